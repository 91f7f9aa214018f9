/* Streams a greedy continuation of a prompt to stdout, through Tandem's C API.
 *
 *   generate MODEL.gguf "Once upon a time" [N_PREDICT]
 *
 * Build it against an installed Tandem, either with CMake (see CMakeLists.txt here) or:
 *   cc -std=c99 generate.c $(pkg-config --cflags --libs tandem) -o generate
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tandem/tandem.h>

/* Writes each token's bytes as they come; a character split over two tokens is whole
 * again once both are out. Returns 0: keep going. */
static int print_piece(tandem_token token, const char* piece, size_t len, void* user_data) {
  (void)token;
  (void)user_data;
  fwrite(piece, 1, len, stdout);
  fflush(stdout);
  return 0;
}

static int fail(const char* what, tandem_status s) {
  fprintf(stderr, "generate: %s: %s (%s)\n", what, tandem_last_error(), tandem_status_string(s));
  return 1;
}

int main(int argc, char** argv) {
  if (argc < 3 || argc > 4) {
    fprintf(stderr, "usage: %s MODEL.gguf PROMPT [N_PREDICT]\n", argv[0]);
    return 2;
  }
  const char* model_path = argv[1];
  const char* prompt_text = argv[2];
  const int n_predict = argc == 4 ? atoi(argv[3]) : 64;

  tandem_model* model = NULL;
  tandem_status s = tandem_model_load(model_path, NULL, &model);
  if (s != TANDEM_OK) return fail("loading the model", s);

  tandem_context_params cparams = tandem_context_default_params();
  cparams.n_ctx = 512;
  tandem_context* ctx = NULL;
  s = tandem_context_create(model, &cparams, &ctx);
  if (s != TANDEM_OK) {
    tandem_model_free(model);
    return fail("creating a context", s);
  }

  /* Ask for the size first, then tokenize into a buffer of that size. */
  const size_t text_len = strlen(prompt_text);
  size_t n_prompt = 0;
  s = tandem_tokenize(model, prompt_text, text_len, TANDEM_ADD_BOS_DEFAULT, 0, NULL, 0, &n_prompt);
  tandem_token* prompt = NULL;
  if (s == TANDEM_ERR_BUFFER_TOO_SMALL || s == TANDEM_OK) {
    prompt = malloc((n_prompt > 0 ? n_prompt : 1) * sizeof(tandem_token));
    s = prompt == NULL ? TANDEM_ERR_OUT_OF_MEMORY
                       : tandem_tokenize(model, prompt_text, text_len, TANDEM_ADD_BOS_DEFAULT, 0,
                                         prompt, n_prompt, &n_prompt);
  }
  int rc = 0;
  if (s != TANDEM_OK) {
    rc = fail("tokenizing the prompt", s);
  } else {
    tandem_sampler_params sparams = tandem_sampler_default_params();
    sparams.temperature = 0.0f; /* greedy */
    tandem_generate_stats stats;
    s = tandem_generate(ctx, prompt, n_prompt, n_predict, &sparams, print_piece, NULL, NULL, &stats);
    printf("\n");
    if (s != TANDEM_OK) {
      rc = fail("generating", s);
    } else {
      fprintf(stderr, "generate: prompt %d tokens, generated %d tokens (%.1f tok/s)\n",
              stats.n_prompt, stats.n_generated,
              stats.decode_seconds > 0 ? stats.n_generated / stats.decode_seconds : 0.0);
    }
  }

  free(prompt);
  tandem_context_free(ctx);
  tandem_model_free(model);
  return rc;
}
