"""The life of a measuring run, written once: `harness sweep`, `harness search` and every later command that
measures turn their flags into a typed Job and a Proposer, and hand both to `session.measure`.

The shape is Model Analyzer's `run_models`: a proposer says what to measure next (a fixed list of curves, the
configuration search...), the session measures it as one curve of the run and tells the proposer what it got, and
the proposer reacts. The session owns everything around that loop: reaching or starting the server, the run record
(saved after every level), the load driver, Ctrl-C and SIGTERM, the budget, how the run ended and why, the report
and the summary on the terminal.
"""
