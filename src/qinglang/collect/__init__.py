"""The collector: tracker.js, an ASGI app, signed page tokens and a durable segment log.

sites.py     registered sites (name, origins, secret) in a small SQLite file
tokens.py    per-pageview tokens (HMAC) and their verdicts
segments.py  fsync'd append-only segments with group commit, torn-tail recovery, roll to Parquet
steps.py     the ingestion pipeline: named, ordered, timed steps and the closed list of drop reasons
app.py       the ASGI app (routes, bounded queue, /metrics)
lake.py      the Parquet lake of one site (what `qinglang audit --db --site` reads)
server.py    `qinglang serve`: the app under uvicorn
"""
