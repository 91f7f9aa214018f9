// What the C API's handles hold, and the helpers every entry point uses to turn
// engine errors (and any stray exception) into a tandem_status plus last-error text.
#pragma once

#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <type_traits>

#include "core/status.h"
#include "engine/context.h"
#include "engine/device_setup.h"
#include "engine/model.h"
#include "engine/sampler.h"
#include "engine/tokenizer.h"
#include "tandem/tandem.h"

namespace tandem::api {

// The GPU a model's params asked for and found (engine/device_setup.h). Each context
// creation plans and places on it, one at a time (`mutex`: contexts of one model may be
// created on several threads).
struct ModelGpu {
  DeviceRequest request;
  FoundGpu found;
  std::mutex mutex;
};

// A loaded model and its vocabulary; shared by the model handle and its contexts, so a
// context stays usable if the model handle is freed first. Read-only once built (but
// for gpu's placements, under its mutex).
struct LoadedModel {
  std::unique_ptr<Model> model;
  std::unique_ptr<Tokenizer> tokenizer;
  std::unique_ptr<ModelGpu> gpu;  // null: n_gpu_layers 0, the CPU only
};

// Where a context runs, for the tandem_context_gpu_* queries.
struct ContextGpu {
  int32_t n_layers = 0;
  bool output = false;
  uint64_t bytes = 0;
  std::string name;             // the device's name; "" on the CPU
  std::string fallback_reason;  // ContextDevice::cpu_reason
};

// The engine's request for tandem_model_params (checked: kInvalidArgument naming the
// field); CUDA's library is looked for beside libtandem, then on the loader's path.
Result<DeviceRequest> device_request(const tandem_model_params& p);
// The model's GPU part placed for a context of `cfg` (place_context; nothing when the
// model has no GPU request). Serialised per model.
Result<ContextDevice> place_for_context(const LoadedModel& m, const ContextConfig& cfg);
// What `d` placed, for the queries.
ContextGpu context_gpu(const LoadedModel& m, const ContextDevice& d);

// Sets the thread's last-error text and returns `status`.
tandem_status fail(tandem_status status, std::string message);
// Maps an engine error to its status and message.
tandem_status fail(const Error& e);
// Clears the thread's last-error text; returns TANDEM_OK.
tandem_status ok();

tandem_status status_of(Code code);
// Messages for an exception caught at the API boundary.
tandem_status fail_out_of_memory();
tandem_status fail_internal(const char* what);

// Runs an entry point's body (a callable returning tandem_status) so that no exception
// leaves the library: bad_alloc becomes TANDEM_ERR_OUT_OF_MEMORY, anything else
// TANDEM_ERR_INTERNAL, each with a last-error text.
template <typename Body>
tandem_status guarded(Body&& body) noexcept {
  try {
    return body();
  } catch (const std::bad_alloc&) {
    return fail_out_of_memory();
  } catch (const std::exception& e) {
    return fail_internal(e.what());
  } catch (...) {
    return fail_internal("unknown exception");
  }
}

// The engine's sampler settings for the C API's (no checks: Sampler::create checks).
SamplerConfig sampler_config(const tandem_sampler_params& p);

// The integer a C caller put in an enum-typed argument or field. C allows any int there;
// in C++ reading an enum outside the range of its enumerators is undefined, so copy bytes.
template <typename E>
std::underlying_type_t<E> raw_value(const E& e) {
  std::underlying_type_t<E> v;
  std::memcpy(&v, &e, sizeof v);
  return v;
}

// Whether a token id is inside the model's vocabulary.
bool token_in_vocab(const LoadedModel& m, tandem_token token);

}  // namespace tandem::api

struct tandem_model {
  std::shared_ptr<const tandem::api::LoadedModel> loaded;
};

struct tandem_context {
  std::shared_ptr<const tandem::api::LoadedModel> loaded;  // keeps *ctx's model (and GPU backend) alive
  std::unique_ptr<tandem::Context> ctx;                     // one sequence: id 0
  int32_t n_batch = 512;                                    // prompt tokens per forward pass
  tandem::api::ContextGpu gpu;
};

struct tandem_sampler {
  tandem::Sampler sampler;
};
