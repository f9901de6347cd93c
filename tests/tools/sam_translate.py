"""Prints the CloudFormation that SAM makes of a template (run with the SAM CLI's own Python:
its pinned boto3 cannot share the project's environment).

    .venv-sam/bin/python tests/tools/sam_translate.py template.yaml
"""

import json
import os
import sys

from samcli.yamlhelper import yaml_parse
from samtranslator.model.exceptions import InvalidDocumentException
from samtranslator.parser.parser import Parser
from samtranslator.translator.managed_policy_translator import ManagedPolicyLoader
from samtranslator.translator.transform import transform


class OfflinePolicies(ManagedPolicyLoader):
    """AWS managed policy ARNs without asking IAM (no AWS account here)."""

    def __init__(self) -> None:
        pass

    def load(self) -> dict[str, str]:
        return {}


os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
def with_s3_code(template: dict) -> dict:
    """Local CodeUri/ContentUri as the S3 locations `sam package` would upload them to (what
    `sam validate` does too): the translator accepts nothing else."""
    template.get("Globals", {}).get("Function", {}).pop("CodeUri", None)
    for resource in template["Resources"].values():
        properties = resource.setdefault("Properties", {})
        if resource["Type"] == "AWS::Serverless::Function":
            properties["CodeUri"] = "s3://bucket/code.zip"
        elif resource["Type"] == "AWS::Serverless::LayerVersion":
            properties["ContentUri"] = "s3://bucket/layer.zip"
    return template


with open(sys.argv[1]) as f:
    template = with_s3_code(yaml_parse(f.read()))
try:
    output = transform(template, {"AWS::Region": "us-east-1"}, OfflinePolicies(), Parser())
except InvalidDocumentException as exc:
    print("\n".join(str(cause) for cause in exc.causes), file=sys.stderr)
    raise SystemExit(1) from None
print(json.dumps(output, indent=1, default=str))
