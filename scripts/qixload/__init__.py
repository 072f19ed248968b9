"""QIX load testing on Locust: the QIX-specific parts only (client, tokens, scenarios, server figures, report).

``locustfile.py`` wires them into Locust; ``scripts/loadtest.py`` is the command line that runs it. Nothing
here imports Locust at package import time, so the plain modules (client, tokens, server figures, report)
can be used and tested without gevent's monkey-patching.
"""
