"""``smx serve``: the platform's HTTP API for the farmers' apps and third-party farm software.

A FastAPI application (:func:`app.create_app`) under uvicorn, stateless: every answer comes from
the stores (herd DB, sensor store, score store, MLflow registry), so any number of instances can
run behind a load balancer. What is cached in a process (resolved model versions, herd records,
baselines) is re-read within ``SMX_API_MODEL_TTL_S``.

* ``stores``: the stores and caches, opened once per process;
* ``security``: the bearer token and the loopback rule;
* ``errors``: one readable message per failure (404, 422), never a traceback; the access log;
* ``routes/``: one small module per resource (health, alerts, scores, score, feedback).
"""
