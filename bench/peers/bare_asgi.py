"""Reference ceiling: a raw ASGI app that decodes OIP v2 JSON and calls `predict` per request.

Usage: bare_asgi.py ARTIFACT SHA256 PORT (run with the project's venv).
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import joblib
import numpy as np
import orjson
import uvicorn


def build_app(artifact: Path, sha256: str) -> object:
    actual = hashlib.sha256(artifact.read_bytes()).hexdigest()
    if actual != sha256:
        raise SystemExit(f"{artifact}: sha256 {actual} != expected {sha256}")
    estimator = joblib.load(artifact)

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        status, payload = 200, b'{"live":true,"ready":true}'
        if scope["method"] == "POST":
            try:
                request = orjson.loads(body)["inputs"][0]
                rows = np.asarray(request["data"], dtype=np.float64).reshape(request["shape"])
                labels = estimator.predict(rows)
                payload = orjson.dumps(
                    {
                        "outputs": [
                            {
                                "name": "predict",
                                "shape": [len(labels)],
                                "datatype": "INT64",
                                "data": labels.tolist(),
                            }
                        ]
                    }
                )
            except (KeyError, IndexError, TypeError, ValueError) as error:
                status, payload = 400, orjson.dumps({"error": str(error)})
        headers = [(b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})

    return app


if __name__ == "__main__":
    artifact_path, digest, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    uvicorn.run(
        build_app(Path(artifact_path), digest), host="127.0.0.1", port=port, access_log=False
    )
