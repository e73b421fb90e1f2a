"""`make bench`: the pipeline's performance figures, measured on this machine with every component running.

One module per measurement of issue 7 (ingest, latency, throughput, relay, economy, fairness, backfill), the
stack they share (stack.py: private ports, topics, consumer groups and database per run), and report.py
(the table and the JSON file). Run `python -m pipeline_devtools.bench --help`.
"""
