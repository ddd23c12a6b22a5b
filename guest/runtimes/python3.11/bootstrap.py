"""thaw's python3.11 runtime: speaks the Lambda Runtime API (2018-06-01) on
$AWS_LAMBDA_RUNTIME_API and runs the handler named by $_HANDLER
("module.function", modules resolved under /var/task, then /opt/python).
Standard library only: the runtime image is Debian's python3.11 packages.
"""
import http.client
import importlib
import json
import os
import sys
import time
import traceback

API = os.environ["AWS_LAMBDA_RUNTIME_API"]
HOST, PORT = API.rsplit(":", 1)
ERROR_TYPE_HEADER = "Lambda-Runtime-Function-Error-Type"


class RuntimeApi:
    """One keep-alive connection; long-polls /next with no timeout."""

    def __init__(self):
        self.conn = http.client.HTTPConnection(HOST, int(PORT), timeout=None)

    def request(self, method, path, body=None, headers=None):
        for attempt in (1, 2):
            try:
                self.conn.request(method, "/2018-06-01/runtime/" + path, body=body,
                                  headers=headers or {})
                resp = self.conn.getresponse()
                return resp.status, resp.headers, resp.read()
            except (http.client.HTTPException, ConnectionError):
                self.conn.close()
                self.conn = http.client.HTTPConnection(HOST, int(PORT), timeout=None)
                if attempt == 2:
                    raise

    def post_error(self, path, error_type, body):
        header = error_type if valid_error_type(error_type) else "Runtime.Unknown"
        data = json.dumps(body).encode()
        self.request("POST", path, data, {ERROR_TYPE_HEADER: header,
                                          "Content-Type": "application/json"})


def valid_error_type(t):
    for prefix in ("Runtime.", "Function."):
        if t.startswith(prefix):
            rest = t[len(prefix):]
            return len(rest) >= 2 and rest[0].isupper() and rest.isalpha() and rest.isascii()
    return False


def error_body(exc, error_type=None):
    frames = traceback.format_list(traceback.extract_tb(exc.__traceback__))
    return {
        "errorMessage": str(exc),
        "errorType": error_type or type(exc).__name__,
        "stackTrace": frames,
    }


class Context:
    """The Lambda context object handed to every invocation."""

    def __init__(self, request_id, headers):
        self.aws_request_id = request_id
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.memory_limit_in_mb = int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"))
        self.invoked_function_arn = headers.get("Lambda-Runtime-Invoked-Function-Arn", "")
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "")
        self._deadline_ms = int(headers.get("Lambda-Runtime-Deadline-Ms", "0") or 0)
        cc = headers.get("Lambda-Runtime-Client-Context")
        ci = headers.get("Lambda-Runtime-Cognito-Identity")
        self.client_context = json.loads(cc) if cc else None
        self.identity = json.loads(ci) if ci else None

    def get_remaining_time_in_millis(self):
        return max(0, self._deadline_ms - int(time.time() * 1000))


def load_handler(api):
    """Imports the handler; on failure reports an init error and exits."""
    spec = os.environ.get("_HANDLER", "")
    task_root = os.environ.get("LAMBDA_TASK_ROOT", "/var/task")
    for path in ("/opt/python", task_root):
        if path not in sys.path:
            sys.path.insert(0, path)
    module_name, _, function_name = spec.rpartition(".")
    error = None
    if not module_name or not function_name:
        error = ("Runtime.MalformedHandlerName",
                 {"errorMessage": f"Bad handler '{spec}': not enough values to unpack "
                                  "(expected 2, got 1)",
                  "errorType": "Runtime.MalformedHandlerName", "stackTrace": []})
    else:
        try:
            module = importlib.import_module(module_name.replace("/", "."))
            handler = getattr(module, function_name, None)
            if handler is None:
                error = ("Runtime.HandlerNotFound",
                         {"errorMessage": f"Handler '{function_name}' missing on module "
                                          f"'{module_name}'",
                          "errorType": "Runtime.HandlerNotFound", "stackTrace": []})
            else:
                return handler
        except ImportError as exc:
            error = ("Runtime.ImportModuleError",
                     {"errorMessage": f"Unable to import module '{module_name}': {exc}",
                      "errorType": "Runtime.ImportModuleError", "stackTrace": []})
        except SyntaxError as exc:
            error = ("Runtime.UserCodeSyntaxError",
                     error_body(exc, "Runtime.UserCodeSyntaxError"))
        except Exception as exc:  # user code raised at import time
            error = ("Function." + type(exc).__name__, error_body(exc))
    print(f"[ERROR] {error[1]['errorType']}: {error[1]['errorMessage']}", file=sys.stderr)
    api.post_error("init/error", error[0], error[1])
    sys.exit(1)


def main():
    api = RuntimeApi()
    handler = load_handler(api)
    while True:
        status, headers, body = api.request("GET", "invocation/next")
        if status != 200:
            print(f"[ERROR] Runtime API /next answered {status}: {body!r}", file=sys.stderr)
            sys.exit(1)
        request_id = headers["Lambda-Runtime-Aws-Request-Id"]
        trace = headers.get("Lambda-Runtime-Trace-Id")
        if trace:
            os.environ["_X_AMZN_TRACE_ID"] = trace
        else:
            os.environ.pop("_X_AMZN_TRACE_ID", None)
        try:
            event = json.loads(body) if body else None
        except ValueError as exc:
            api.post_error(f"invocation/{request_id}/error", "Runtime.UnmarshalError",
                           {"errorMessage": f"Unable to unmarshal input: {exc}",
                            "errorType": "Runtime.UnmarshalError", "stackTrace": []})
            continue
        try:
            result = handler(event, Context(request_id, headers))
            payload = json.dumps(result).encode()
        except Exception as exc:
            err = error_body(exc)
            print(f"[ERROR] {err['errorType']}: {err['errorMessage']}\n"
                  + "".join(traceback.format_exception(exc)), file=sys.stderr, end="")
            api.post_error(f"invocation/{request_id}/error",
                           "Function." + type(exc).__name__, err)
            continue
        api.request("POST", f"invocation/{request_id}/response", payload,
                    {"Content-Type": "application/json"})


if __name__ == "__main__":
    main()
