// The dispatcher's EventInvoker for thawd: resolves an event's function and
// qualifier in the registry and runs it through the same SandboxPool::invoke
// the synchronous path uses, mapping the result onto the retry policy's
// outcome kinds. Wired by service.cc.
#pragma once

#include "agent/async/event_dispatcher.h"

namespace thaw::agent {

class FunctionRegistry;
class SandboxPool;

EventInvoker make_pool_invoker(FunctionRegistry& registry, SandboxPool& pool);

}  // namespace thaw::agent
