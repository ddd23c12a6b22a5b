# The sample function the README's main job deploys and invokes.
import json
import os


def lambda_handler(event, context):
    name = event.get("name", "world")
    print(f"hello from {context.function_name}, request {context.aws_request_id}")
    return {
        "statusCode": 200,
        "body": json.dumps({"message": f"hello, {name}", "runtime": os.environ.get("AWS_EXECUTION_ENV")}),
    }
