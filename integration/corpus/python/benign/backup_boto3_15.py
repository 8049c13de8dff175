import datetime
import gzip
import os
import shutil
import subprocess
import tempfile

import boto3

bucket = os.environ["BACKUP_BUCKET"]
db = os.environ.get("PGDATABASE", "app")
stamp = datetime.datetime.utcnow().strftime("%Y%m%dT%H%M%SZ")

with tempfile.NamedTemporaryFile(suffix=".sql.gz", delete=False) as tmp:
    dump = subprocess.Popen(["pg_dump", "--no-owner", db], stdout=subprocess.PIPE)
    with gzip.GzipFile(fileobj=tmp, mode="wb") as gz:
        shutil.copyfileobj(dump.stdout, gz)
    if dump.wait() != 0:
        raise SystemExit("pg_dump failed")
boto3.client("s3").upload_file(tmp.name, bucket, f"{db}/{stamp}.sql.gz")
os.unlink(tmp.name)
print(f"uploaded s3://{bucket}/{db}/{stamp}.sql.gz")
