// thaw's nodejs20 runtime: speaks the Lambda Runtime API (2018-06-01) on
// $AWS_LAMBDA_RUNTIME_API and runs $_HANDLER ("file.function", file.js /
// .mjs / .cjs under /var/task): async handlers, callback handlers, the
// context object with getRemainingTimeInMillis(). Node built-ins only.
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const [HOST, PORT] = process.env.AWS_LAMBDA_RUNTIME_API.split(':');
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const ERROR_TYPE_HEADER = 'Lambda-Runtime-Function-Error-Type';

function request(method, route, body, headers = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: HOST, port: Number(PORT), method, agent,
      path: `/2018-06-01/runtime/${route}`,
      headers: body === undefined ? headers
        : { ...headers, 'Content-Length': Buffer.byteLength(body) },
    }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers,
                                    body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

const validErrorType = (t) => /^(Runtime|Function)\.[A-Z][a-zA-Z]+$/.test(t);

function errorBody(err, type) {
  const e = err instanceof Error ? err : new Error(String(err));
  const trace = (e.stack || '').split('\n');
  return { errorType: type || e.name || 'Error', errorMessage: e.message, trace, stackTrace: trace };
}

async function postError(route, type, body) {
  const header = validErrorType(type) ? type : 'Runtime.Unknown';
  await request('POST', route, JSON.stringify(body),
                { [ERROR_TYPE_HEADER]: header, 'Content-Type': 'application/json' });
}

async function loadHandler() {
  const spec = process.env._HANDLER || '';
  const root = process.env.LAMBDA_TASK_ROOT || '/var/task';
  const dot = spec.lastIndexOf('.');
  if (dot <= 0) {
    return { error: ['Runtime.MalformedHandlerName',
      { errorType: 'Runtime.MalformedHandlerName',
        errorMessage: `Bad handler ${spec}`, stackTrace: [] }] };
  }
  const file = spec.slice(0, dot);
  const name = spec.slice(dot + 1);
  const found = ['.js', '.mjs', '.cjs'].map((ext) => path.join(root, file + ext))
    .find((p) => fs.existsSync(p));
  if (!found) {
    return { error: ['Runtime.ImportModuleError',
      { errorType: 'Runtime.ImportModuleError',
        errorMessage: `Error: Cannot find module '${file}'`, stackTrace: [] }] };
  }
  let mod;
  try {
    mod = await import(pathToFileURL(found).href);
  } catch (err) {
    const type = err instanceof SyntaxError ? 'Runtime.UserCodeSyntaxError' : 'Runtime.ImportModuleError';
    return { error: [type, errorBody(err, type)] };
  }
  const fn = mod[name] ?? mod.default?.[name];
  if (typeof fn !== 'function') {
    return { error: ['Runtime.HandlerNotFound',
      { errorType: 'Runtime.HandlerNotFound',
        errorMessage: `${file}.${name} is undefined or not exported`, stackTrace: [] }] };
  }
  return { fn };
}

function makeContext(id, headers) {
  const deadline = Number(headers['lambda-runtime-deadline-ms'] || 0);
  const json = (h) => (headers[h] ? JSON.parse(headers[h]) : undefined);
  return {
    awsRequestId: id,
    functionName: process.env.AWS_LAMBDA_FUNCTION_NAME,
    functionVersion: process.env.AWS_LAMBDA_FUNCTION_VERSION,
    memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
    invokedFunctionArn: headers['lambda-runtime-invoked-function-arn'],
    logGroupName: process.env.AWS_LAMBDA_LOG_GROUP_NAME,
    logStreamName: process.env.AWS_LAMBDA_LOG_STREAM_NAME,
    clientContext: json('lambda-runtime-client-context'),
    identity: json('lambda-runtime-cognito-identity'),
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
  };
}

// Runs one invocation; resolves to {result} or {error}. A handler taking
// three arguments is callback-style; otherwise its (possibly async) return
// value is the result.
function invoke(fn, event, context) {
  return new Promise((resolve) => {
    let settled = false;
    const finish = (err, result) => {
      if (settled) return;
      settled = true;
      resolve(err !== undefined && err !== null ? { error: err } : { result });
    };
    context.done = finish;
    context.succeed = (r) => finish(null, r);
    context.fail = (e) => finish(e ?? new Error('handler failed'));
    try {
      const ret = fn(event, context, finish);
      if (fn.length < 3 || (ret && typeof ret.then === 'function')) {
        Promise.resolve(ret).then((r) => finish(null, r), (e) => finish(e ?? new Error('rejected')));
      }
    } catch (err) {
      finish(err);
    }
  });
}

async function main() {
  const loaded = await loadHandler();
  if (loaded.error) {
    const [type, body] = loaded.error;
    console.error(`ERROR\t${body.errorType}: ${body.errorMessage}`);
    await postError('init/error', type, body);
    process.exit(1);
  }
  for (;;) {
    const next = await request('GET', 'invocation/next');
    const id = next.headers['lambda-runtime-aws-request-id'];
    if (next.headers['lambda-runtime-trace-id']) {
      process.env._X_AMZN_TRACE_ID = next.headers['lambda-runtime-trace-id'];
    } else {
      delete process.env._X_AMZN_TRACE_ID;
    }
    let event;
    try {
      event = next.body ? JSON.parse(next.body) : undefined;
    } catch (err) {
      await postError(`invocation/${id}/error`, 'Runtime.UnmarshalError',
                      errorBody(err, 'Runtime.UnmarshalError'));
      continue;
    }
    const out = await invoke(loaded.fn, event, makeContext(id, next.headers));
    if (out.error !== undefined) {
      const body = errorBody(out.error);
      console.error(`ERROR\tInvoke Error \t${JSON.stringify(body)}`);
      await postError(`invocation/${id}/error`, `Function.${body.errorType}`, body);
    } else {
      const payload = out.result === undefined ? 'null' : JSON.stringify(out.result);
      await request('POST', `invocation/${id}/response`, payload,
                    { 'Content-Type': 'application/json' });
    }
  }
}

main().catch((err) => {
  console.error('thaw nodejs runtime failed:', err);
  process.exit(1);
});
