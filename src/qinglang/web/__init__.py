"""The dashboard and JSON API (`qinglang ui`): a Starlette app beside the collector, on its
database. Who may see which site is decided in tenancy.py alone; see docs/ARCHITECTURE.md."""
