// Helpers shared by the subcommands: error reporting and building engine configs.
#pragma once

#include <cstdint>
#include <string>

#include "cli/commands.h"
#include "core/status.h"
#include "engine/context.h"
#include "engine/sampler.h"

namespace tandem::cli {

// Prints "tandem: error: <message>" on one line of stderr; returns the exit code 1.
int fail(const Error& e);
int fail(const std::string& message);

Result<ContextConfig> context_config(const ModelOptions& m);
// Fills a SamplerConfig; draws a seed when none was given (printed by the caller).
SamplerConfig sampler_config(const SamplingOptions& s);

}  // namespace tandem::cli
