"""``qix-engine`` entry point: argv -> Settings -> Authenticator -> server.

Configuration mistakes end the process before anything listens, with exactly one line on stderr
(``qix-engine: <setting>: <problem>``) and exit code 2, so container logs show the cause at once.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence

from engine import logs
from engine.auth import Authenticator
from engine.settings import JWT_KEY_SETTINGS, PROG, SettingsError, parse_args

log = logging.getLogger("qix.engine")

EXIT_SETTINGS = 2


def _fail(err: SettingsError) -> int:
    print(f"{PROG}: {err}", file=sys.stderr)
    return EXIT_SETTINGS


def main(argv: Sequence[str] | None = None) -> int:
    """Run the engine until it stops; returns the process exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        settings = parse_args(args)
    except SettingsError as err:
        return _fail(err)

    try:
        authenticator = Authenticator(settings)
    except SettingsError as err:
        return _fail(err)

    policy = None
    if settings.enable_abac:  # a rules file that does not parse stops the engine here, like a bad key
        from engine.app.abac import RuleFiles

        try:
            policy = RuleFiles.from_settings(settings).current()
        except SettingsError as err:
            return _fail(err)

    # Logged only once the configuration is known good, so an error stays the only line on stderr.
    logs.setup(settings.system_log_verbosity)
    for key in settings.unknown_settings:
        log.warning("unknown setting -S %s ignored", key)
    for warning in authenticator.config_warnings:
        log.warning("%s", warning)
    if settings.accept_eula:
        log.info("EULA accepted (AcceptEULA=yes)")
    if not settings.jwt_enforced and settings.jwt_keys_configured:
        log.warning("JWT key settings (%s) are ignored: ValidateJsonWebTokens=0", ", ".join(JWT_KEY_SETTINGS))
    if policy is not None:
        log.info("ABAC on: %d allow rules, %d deny rules", len(policy.allow_rules), len(policy.deny_rules))
        for warning in policy.warnings:
            log.warning("ABAC %s", warning)
    elif settings.system_allow_rule_path or settings.system_deny_rule_path:
        log.warning("SystemAllowRulePath and SystemDenyRulePath are ignored: EnableABAC=0")

    # Imported here: the server pulls in websockets and the whole engine, none of which is needed to
    # report a configuration error.
    from engine import memory, server

    memory.configure()

    try:
        result = server.run(settings, authenticator)
    except KeyboardInterrupt:
        return 130
    return result if isinstance(result, int) else 0
