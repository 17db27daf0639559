"""Seeded keys (`[[seed.keys]]` in the config file) seen by the AWS CLI and boto3: a server started
with a config that seeds a key with an alias, a tag and imported material lists the alias (AWS CLI)
and describes the key as declared (boto3)."""

import json
import os
import subprocess

import pytest

from conftest import ACCOUNT, REGION, aws_cli, aws_cli_env, make_client, running_server

KEY_ID = "0b7e1b6a-3f6e-4c4e-9a0e-6a3d2f1c9b11"


@pytest.fixture(scope="module")
def seeded_server(tmp_path_factory):
    directory = tmp_path_factory.mktemp("seed")
    (directory / "app.bin").write_bytes(os.urandom(32))
    config = directory / "trent.toml"
    config.write_text(
        f"""[[seed.keys]]
account = "{ACCOUNT}"
region = "{REGION}"
id = "{KEY_ID}"
aliases = ["alias/seeded"]
description = "seeded for the clients"
tags = {{ team = "core" }}
material_file = "app.bin"
"""
    )
    with running_server(tmp_path_factory, "seed", ["--config", str(config)]) as url:
        yield url


def test_the_aws_cli_lists_the_seeded_alias_and_boto3_describes_the_key(seeded_server, tmp_path):
    env, cli = aws_cli_env(tmp_path), aws_cli()
    cmd = [str(cli), "kms", "list-aliases", "--endpoint-url", seeded_server, "--region", REGION, "--output", "json"]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    targets = {alias["AliasName"]: alias.get("TargetKeyId") for alias in json.loads(done.stdout)["Aliases"]}
    assert targets.get("alias/seeded") == KEY_ID, targets

    kms = make_client(seeded_server)
    metadata = kms.describe_key(KeyId="alias/seeded")["KeyMetadata"]
    assert (metadata["KeyId"], metadata["Origin"], metadata["KeySpec"]) == (KEY_ID, "EXTERNAL", "SYMMETRIC_DEFAULT")
    assert metadata["Description"] == "seeded for the clients"
    assert kms.list_resource_tags(KeyId=KEY_ID)["Tags"] == [{"TagKey": "team", "TagValue": "core"}]
    blob = kms.encrypt(KeyId="alias/seeded", Plaintext=b"seeded")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"seeded"
