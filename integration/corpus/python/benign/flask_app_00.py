import os

from flask import Flask, jsonify, request

app = Flask(__name__)
app.config["MAX_CONTENT_LENGTH"] = 1 << 20


@app.get("/healthz")
def healthz():
    return jsonify(status="ok")


@app.post("/api/v1/items")
def create_item():
    body = request.get_json(force=True)
    if not body or "name" not in body:
        return jsonify(error="name is required"), 400
    return jsonify(id=1, name=body["name"]), 201


if __name__ == "__main__":
    app.run(host="0.0.0.0", port=int(os.environ.get("PORT", "8080")))
