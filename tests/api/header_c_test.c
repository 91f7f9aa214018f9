/* tandem.h compiles as C99 and links from C: a few calls, checked by hand (no GoogleTest). */
#include <stdio.h>
#include <string.h>

#include "tandem/tandem.h"

static int failures = 0;

static void check(int ok, const char* what) {
  if (!ok) {
    fprintf(stderr, "header_c_test: FAILED: %s\n", what);
    ++failures;
  }
}

int main(void) {
  check(strcmp(tandem_status_string(TANDEM_OK), "TANDEM_OK") == 0, "status string of TANDEM_OK");
  check(strcmp(tandem_status_string(TANDEM_ERR_BUFFER_TOO_SMALL), "TANDEM_ERR_BUFFER_TOO_SMALL") == 0,
        "status string of TANDEM_ERR_BUFFER_TOO_SMALL");
  check(strcmp(tandem_status_string((tandem_status)1000), "unknown status") == 0,
        "status string of a value outside the enum");
  check(tandem_last_error() != NULL && tandem_last_error()[0] == '\0', "no error before any call");

  tandem_model* model = (tandem_model*)&failures; /* any non-NULL value: must become NULL */
  tandem_status s = tandem_model_load(NULL, NULL, &model);
  check(s == TANDEM_ERR_INVALID_ARGUMENT, "a NULL path is TANDEM_ERR_INVALID_ARGUMENT");
  check(model == NULL, "*out is NULL after a failed load");
  check(strstr(tandem_last_error(), "path is NULL") != NULL, "the message says what was NULL");

  int major = -1;
  tandem_version(&major, NULL, NULL);
  check(major == TANDEM_VERSION_MAJOR, "library major version equals the header's");

  tandem_model_params mp = tandem_model_default_params();
  check(mp.n_gpu_layers == TANDEM_GPU_LAYERS_AUTO && mp.gpu_device == 0 && mp.gpu_mem == 0 &&
            mp.gpu == TANDEM_GPU_CUDA && mp.gpu_emulate_refusal == NULL,
        "model defaults: auto placement on a CUDA device");
  check(tandem_context_n_gpu_layers(NULL) == -1 && tandem_context_gpu_bytes(NULL) == 0 &&
            tandem_context_gpu_fallback_reason(NULL)[0] == '\0',
        "GPU queries on a NULL context");

  tandem_context_params cp = tandem_context_default_params();
  check(cp.kv_type == TANDEM_KV_F16 && cp.n_batch > 0, "context defaults");
  tandem_sampler_params sp = tandem_sampler_default_params();
  check(sp.temperature > 0.0f && sp.top_k == 40, "sampler defaults");

  if (failures == 0) printf("header_c_test: all checks passed\n");
  return failures == 0 ? 0 : 1;
}
