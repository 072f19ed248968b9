"""The Qlik load-script language: lexer → statement parser → AST → runner, producing a DataModel.

Public API:

* ``runner.run_script(script, env, progress=None, cancel=None) -> ReloadResult`` with ``ScriptEnv``
  (document_dir, connections, max_rows, variables, include_root, path_aliases, max_statements),
  ``ReloadResult`` (model, section_access, variables, log, warnings) and ``SectionAccessTable``.
  Failures raise ``errors.ScriptError(message, line, column, statement_text, code)``; a set
  ``cancel`` event raises ``errors.ReloadCancelled``.
* ``progress.Progress``: thread-safe reload progress (``statement``, ``fetched``, ``transient``,
  ``drain``); ``fetched`` writes the engine's ``<Table> << <n> Lines fetched`` line.
* ``syntax.check_syntax(script) -> list[SyntaxErrorInfo]`` for ``Doc.CheckScriptSyntax``.
* ``paths.Connection(name, connection_string, type)`` and ``paths.PathPolicy`` (where files may be): 'folder' connections are readable.
"""
