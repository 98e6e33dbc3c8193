-- wrk: POST the body in BODY (an environment variable) to the path given.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = os.getenv("BODY") or "{}"
