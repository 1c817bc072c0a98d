"""Charts shared by the dashboard and the backtest report, so a live run and a backtest look alike.

`static/` holds the vendored lightweight-charts bundle (refreshed by `make charts`, see README)
and `charts.js`, our one chart builder; `payload` shapes bars, indicator lines, markers and
levels into the JSON that `charts.js` draws.
"""
