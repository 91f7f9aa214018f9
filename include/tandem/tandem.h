/* Tandem: the C API of an LLM inference engine for Llama-family GGUF models.
 *
 * A C99 interface with opaque handles. Every function that can fail returns a
 * tandem_status; TANDEM_OK is 0. After a call that returns a status,
 * tandem_last_error() says what went wrong (and where), in English.
 * No C++ exception ever leaves this library.
 *
 *   tandem_model* model;
 *   if (tandem_model_load("stories260K.gguf", NULL, &model) != TANDEM_OK)
 *     fprintf(stderr, "%s\n", tandem_last_error());
 *   tandem_context* ctx;
 *   tandem_context_create(model, NULL, &ctx);
 *   tandem_token prompt[64];
 *   size_t n_prompt;
 *   tandem_tokenize(model, "Once upon a time", 16, TANDEM_ADD_BOS_DEFAULT, 0,
 *                   prompt, 64, &n_prompt);
 *   tandem_sampler_params sp = tandem_sampler_default_params();
 *   sp.temperature = 0.0f;  // greedy
 *   tandem_generate(ctx, prompt, n_prompt, 32, &sp, on_token, NULL, NULL, NULL);
 *   tandem_context_free(ctx);
 *   tandem_model_free(model);
 *
 * Ownership and lifetimes
 *   - Each *_create / *_load that succeeds gives the caller one handle, released with the
 *     matching *_free. *_free(NULL) does nothing. On failure *out is set to NULL.
 *   - A context keeps its model's weights and vocabulary alive: the model handle may be
 *     freed before its contexts, and the memory goes away with the last of them. (The
 *     simplest rule is still the best: free the contexts first, then the model.)
 *     A sampler does not refer to its model once created.
 *   - Pointers that a function returns into a handle (logits, names) stay valid until the
 *     next call that changes that handle, or until it is freed.
 *
 * Threads
 *   - A handle is not thread-safe: one thread at a time per context and per sampler.
 *   - A model is read-only once loaded: several contexts of one model may run on
 *     different threads at the same time, and tokenizing needs no lock.
 *   - A context runs its own worker threads (n_threads) for the math.
 *
 * Text
 *   Text in is UTF-8 with an explicit length. Text out (token pieces) is raw bytes: one
 *   token may hold part of a multi-byte character, so join pieces before decoding them.
 *
 * Parameter structs
 *   Fields may be added in later versions: always start from tandem_*_default_params()
 *   and set the fields you need; NULL wherever a params pointer is taken means defaults.
 */
#ifndef TANDEM_TANDEM_H
#define TANDEM_TANDEM_H

#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__)
#define TANDEM_API __attribute__((visibility("default")))
#else
#define TANDEM_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* The version of this header; tandem_version() gives the library's. */
#define TANDEM_VERSION_MAJOR 0
#define TANDEM_VERSION_MINOR 2
#define TANDEM_VERSION_PATCH 0

/* ---------------------------------------------------------------- status and errors */

typedef enum tandem_status {
  TANDEM_OK = 0,
  TANDEM_ERR_INVALID_ARGUMENT,  /* a NULL handle or pointer, a bad value, invalid UTF-8 */
  TANDEM_ERR_NOT_FOUND,         /* a missing file (or a missing key in a model file) */
  TANDEM_ERR_IO,                /* the OS refused a read or a map */
  TANDEM_ERR_BAD_MODEL,         /* a malformed or inconsistent GGUF file */
  TANDEM_ERR_UNSUPPORTED,       /* valid input Tandem does not handle (yet) */
  TANDEM_ERR_OUT_OF_RANGE,      /* past a limit: the context is full, an index too large */
  TANDEM_ERR_OUT_OF_MEMORY,
  TANDEM_ERR_INTERNAL,          /* a bug in Tandem */
  TANDEM_ERR_BUFFER_TOO_SMALL   /* the caller's buffer is too small; the needed size is
                                   returned beside it */
} tandem_status;

/* The message of the last status-returning call on this thread: "" after TANDEM_OK.
 * Never NULL. Valid until the next tandem_* call on this thread. */
TANDEM_API const char* tandem_last_error(void);

/* A fixed name for a status, such as "TANDEM_ERR_NOT_FOUND"; "unknown status" otherwise. */
TANDEM_API const char* tandem_status_string(tandem_status status);

/* The library's version (any pointer may be NULL) and its string, "0.1.0". */
TANDEM_API void tandem_version(int* major, int* minor, int* patch);
TANDEM_API const char* tandem_version_string(void);

/* ---------------------------------------------------------------- models */

typedef int32_t tandem_token;
typedef struct tandem_model tandem_model;

/* GPU placement
 *   The model params ask; each tandem_context_create carries it out, because the plan
 *   covers the context's KV cache too (n_ctx and kv_type): the output head goes on the
 *   GPU first, then the LAST layers, each with its KV cache, as many as the budget holds
 *   beside the fixed parts (activations, workspaces); the CPU runs the first layers and
 *   the hidden state crosses to the GPU once per forward pass. The plan is checked
 *   against the budget before anything is allocated on the device.
 *   Each context that uses the GPU holds its own copy of its GPU layers' weights there
 *   (the budget is per context): most programs make one context per model.
 *   The tandem_context_gpu_* functions say what a context got, and why not more.
 *   The library reads no environment variables (the `tandem` command's TANDEM_GPU_EMULATE
 *   is the command's own): a program that wants such a switch sets these fields. */

/* tandem_model_params.n_gpu_layers: the head and as many of the last layers as fit. */
#define TANDEM_GPU_LAYERS_AUTO (-1)

/* Which GPU a model's contexts use. */
typedef enum tandem_gpu_kind {
  TANDEM_GPU_CUDA = 0,    /* CUDA device gpu_device, where there is one: a driver, a device and
                             libtandem_cuda.so (beside libtandem, in ../gpu of a build tree, or
                             on the dynamic loader's path) */
  TANDEM_GPU_EMULATED = 1 /* an emulated GPU: host memory held to the plan's sizes, the CPU's
                             reference kernels, single-threaded and slow. For testing the GPU
                             path (placement, budgets, fallback) where there is no GPU; its
                             logits equal the CPU's within f32 rounding (not bit for bit) */
} tandem_gpu_kind;

typedef struct tandem_model_params {
  /* TANDEM_GPU_LAYERS_AUTO (default): the output head and as many of the last layers as
   *   the budget holds. No GPU, a budget too small even for the head, or a GPU that cannot
   *   run the model (a weight type or KV layout its kernels lack) leave the context on the
   *   CPU: tandem_context_gpu_fallback_reason says why.
   * 0: CPU only; no GPU is looked for.
   * N > 0: the head and the last min(N, n_layer) layers, or an error: no GPU
   *   (tandem_model_load: TANDEM_ERR_UNSUPPORTED), a GPU that cannot run the model
   *   (tandem_context_create: TANDEM_ERR_UNSUPPORTED), a budget too small
   *   (tandem_context_create: TANDEM_ERR_OUT_OF_MEMORY, the message naming every size
   *   and how many layers would fit). The CPU never runs those layers, so their weights
   *   are not re-laid out for it at load.
   * Other negative values: TANDEM_ERR_INVALID_ARGUMENT. */
  int32_t n_gpu_layers;
  int32_t gpu_device; /* CUDA device index, >= 0. Default 0 */
  /* The GPU memory each context may use, in bytes. 0 (default): the device's free memory
   * when the context is created, less 512 MiB of headroom; the emulated GPU: no limit. */
  uint64_t gpu_mem;
  tandem_gpu_kind gpu; /* default TANDEM_GPU_CUDA */
  /* For testing the CPU fallback: with TANDEM_GPU_EMULATED, a non-NULL text makes the
   * emulated GPU refuse every model as a CUDA backend refuses one its kernels cannot take,
   * with this text as the reason (copied at load). Must be NULL otherwise. Default NULL. */
  const char* gpu_emulate_refusal;
} tandem_model_params;

TANDEM_API tandem_model_params tandem_model_default_params(void);

/* Maps and validates a GGUF model and its vocabulary, and finds the GPU params asks for
 * (see tandem_model_params; nothing is put on it yet). A missing file gives
 * TANDEM_ERR_NOT_FOUND, an unreadable one TANDEM_ERR_IO, a malformed one
 * TANDEM_ERR_BAD_MODEL; the message names the path. params may be NULL (defaults: auto
 * placement on a CUDA device when there is one, else the CPU). */
TANDEM_API tandem_status tandem_model_load(const char* path, const tandem_model_params* params,
                                           tandem_model** out);
TANDEM_API void tandem_model_free(tandem_model* model);

/* Facts about a model. On a NULL model: -1 for numbers, "" for strings, 0 for flags. */
TANDEM_API int32_t tandem_model_n_vocab(const tandem_model* model);
TANDEM_API int32_t tandem_model_n_ctx_train(const tandem_model* model);
TANDEM_API int32_t tandem_model_n_embd(const tandem_model* model);
TANDEM_API int32_t tandem_model_n_layer(const tandem_model* model);
TANDEM_API uint64_t tandem_model_weight_bytes(const tandem_model* model); /* 0 on NULL */
TANDEM_API const char* tandem_model_arch(const tandem_model* model);      /* "llama", "qwen2" */
TANDEM_API const char* tandem_model_name(const tandem_model* model);      /* general.name or "" */

/* Special tokens: -1 where the vocabulary has none. */
TANDEM_API tandem_token tandem_model_bos(const tandem_model* model);
TANDEM_API tandem_token tandem_model_eos(const tandem_model* model);
TANDEM_API tandem_token tandem_model_eot(const tandem_model* model);
/* 1 if the vocabulary asks for BOS at the start of a prompt, else 0. */
TANDEM_API int tandem_model_add_bos(const tandem_model* model);
/* 1 if generation ends at this token (eos, eot, <|im_end|>, ...), else 0. */
TANDEM_API int tandem_token_is_eog(const tandem_model* model, tandem_token token);

/* ---------------------------------------------------------------- tokens and text */

/* add_bos argument of tandem_tokenize: what the vocabulary says. */
#define TANDEM_ADD_BOS_DEFAULT (-1)

/* Token ids of text[0, text_len) (UTF-8; text may be NULL when text_len is 0).
 * add_bos: 1 prepends BOS, 0 does not, TANDEM_ADD_BOS_DEFAULT follows the vocabulary.
 * EOS is never added. parse_special: 0 tokenizes text that spells a control token ("<s>")
 * as plain text; nonzero turns it into that token.
 * *n_tokens is set to the number of tokens the text has. If capacity is smaller, nothing
 * is written to tokens and TANDEM_ERR_BUFFER_TOO_SMALL is returned: call again with a
 * buffer that large (tokens may be NULL when capacity is 0, to ask for the size). */
TANDEM_API tandem_status tandem_tokenize(const tandem_model* model, const char* text,
                                         size_t text_len, int add_bos, int parse_special,
                                         tandem_token* tokens, size_t capacity,
                                         size_t* n_tokens);

/* The bytes of one token (not NUL-terminated, possibly part of a UTF-8 character: SPM's
 * "▁" is a space, a byte token its byte). Control tokens give no bytes unless
 * render_special. A token outside [0, n_vocab) is TANDEM_ERR_INVALID_ARGUMENT.
 * *n_bytes is set to the piece's length; if capacity is smaller, nothing is written and
 * TANDEM_ERR_BUFFER_TOO_SMALL is returned. When capacity > *n_bytes a NUL follows the
 * bytes, for convenience (a piece may itself contain a NUL byte). */
TANDEM_API tandem_status tandem_token_to_piece(const tandem_model* model, tandem_token token,
                                               int render_special, char* buf, size_t capacity,
                                               size_t* n_bytes);

/* The pieces of tokens[0, n) joined, as tandem_token_to_piece gives them (no space is
 * stripped). Same buffer rules as tandem_token_to_piece. */
TANDEM_API tandem_status tandem_detokenize(const tandem_model* model, const tandem_token* tokens,
                                           size_t n_tokens, int render_special, char* buf,
                                           size_t capacity, size_t* n_bytes);

/* ---------------------------------------------------------------- contexts */

typedef struct tandem_context tandem_context;

/* Element type of the KV cache. F32 gives results bit-comparable with llama.cpp's f32
 * cache; F16 halves the memory; Q8_0 (blocks of 32 values, an int8 each and one f16
 * scale) takes 34/128 of F32's, with an error of about 1/254 of each block's largest
 * value. */
typedef enum tandem_kv_type {
  TANDEM_KV_F16 = 0,
  TANDEM_KV_F32 = 1,
  TANDEM_KV_BF16 = 2,
  TANDEM_KV_Q8_0 = 3 /* head_dim a multiple of 32, else TANDEM_ERR_UNSUPPORTED */
} tandem_kv_type;

typedef struct tandem_context_params {
  int32_t n_ctx;          /* tokens the context holds; 0: min(n_ctx_train, 4096) */
  int32_t n_threads;      /* worker threads; 0: every core this process may use */
  int32_t n_batch;        /* prompt tokens per forward pass in tandem_generate; > 0 */
  tandem_kv_type kv_type; /* default TANDEM_KV_F16 */
} tandem_context_params;

TANDEM_API tandem_context_params tandem_context_default_params(void);

/* A context over a model: its KV cache and scratch memory, for one token sequence.
 * params may be NULL. Places the model's GPU part for this context (see GPU placement):
 * an explicit n_gpu_layers that cannot be honoured fails here (TANDEM_ERR_UNSUPPORTED;
 * TANDEM_ERR_OUT_OF_MEMORY for a plan over the budget, before anything is allocated). */
TANDEM_API tandem_status tandem_context_create(tandem_model* model,
                                               const tandem_context_params* params,
                                               tandem_context** out);
TANDEM_API void tandem_context_free(tandem_context* ctx);

/* Forgets every cached token: the next prompt starts at position 0. */
TANDEM_API tandem_status tandem_context_reset(tandem_context* ctx);
/* Keeps the first n_keep cached tokens (0 <= n_keep <= n_past), forgets the rest. */
TANDEM_API tandem_status tandem_context_truncate(tandem_context* ctx, int32_t n_keep);

/* Context size in tokens and tokens cached now; -1 on NULL. */
TANDEM_API int32_t tandem_context_n_ctx(const tandem_context* ctx);
TANDEM_API int32_t tandem_context_n_past(const tandem_context* ctx);

/* Where a context runs (see GPU placement above). */
/* Layers on the GPU: the last n of the model's layers; 0: none. -1 on NULL. */
TANDEM_API int32_t tandem_context_n_gpu_layers(const tandem_context* ctx);
/* 1 if the output head (output norm and matrix) runs on the GPU, else 0 (also on NULL).
 * Auto placement under a small budget may give the head and no layer. */
TANDEM_API int tandem_context_gpu_output(const tandem_context* ctx);
/* Bytes of GPU memory the context holds (its plan: the weights of its GPU layers and
 * head, their KV cache, activations and workspaces); 0 on the CPU and on NULL. */
TANDEM_API uint64_t tandem_context_gpu_bytes(const tandem_context* ctx);
/* The GPU the context runs on, as its backend names it; "" on the CPU and on NULL. */
TANDEM_API const char* tandem_context_gpu_name(const tandem_context* ctx);
/* Why the context runs wholly on the CPU although its model's params asked for a GPU
 * (n_gpu_layers TANDEM_GPU_LAYERS_AUTO): "no CUDA device (<why>)", "the CUDA backend
 * cannot run this model (<why>)", "the GPU memory plan puts nothing on the GPU (<why>)".
 * "" when something runs on the GPU, when n_gpu_layers is 0, and on NULL. Valid as long
 * as the context. */
TANDEM_API const char* tandem_context_gpu_fallback_reason(const tandem_context* ctx);

/* Runs tokens[0, n_tokens) at positions n_past... (appending them to the cache) and sets
 * *logits to their logits, row-major [n_rows, n_vocab] with n_rows = n_tokens when
 * all_logits, else 1 (the last token's). The logits live in the context until its next
 * eval/generate/reset/truncate. Too many tokens for the context give
 * TANDEM_ERR_OUT_OF_RANGE and leave it unchanged; an id outside the vocabulary gives
 * TANDEM_ERR_INVALID_ARGUMENT. */
TANDEM_API tandem_status tandem_eval(tandem_context* ctx, const tandem_token* tokens,
                                     size_t n_tokens, int all_logits, const float** logits);

/* ---------------------------------------------------------------- sampling */

/* llama.cpp's default chain: penalties, then (temperature > 0) top-k, top-p, min-p,
 * temperature and one random draw; temperature 0 is greedy (argmax, ties to the lower id). */
typedef struct tandem_sampler_params {
  float temperature;       /* >= 0; 0: greedy. Default 0.8 */
  int32_t top_k;           /* <= 0: off. Default 40 */
  float top_p;             /* (0, 1]; 1: off. Default 0.95 */
  float min_p;             /* [0, 1]; 0: off. Default 0.05 */
  float repeat_penalty;    /* > 0; 1: off (default) */
  int32_t repeat_last_n;   /* tokens the penalties look back over; -1: all. Default 64 */
  float presence_penalty;  /* 0: off (default) */
  float frequency_penalty; /* 0: off (default) */
  uint64_t seed;           /* the random generator's seed: the same seed, the same text.
                              Default 0; pick your own for varied output */
} tandem_sampler_params;

TANDEM_API tandem_sampler_params tandem_sampler_default_params(void);

/* A sampler for use with tandem_eval; tandem_generate makes its own. */
typedef struct tandem_sampler tandem_sampler;

TANDEM_API tandem_status tandem_sampler_create(const tandem_model* model,
                                               const tandem_sampler_params* params,
                                               tandem_sampler** out);
TANDEM_API void tandem_sampler_free(tandem_sampler* sampler);
/* Picks a token from logits[0, n_vocab) (not modified). Does not accept it. */
TANDEM_API tandem_status tandem_sampler_sample(tandem_sampler* sampler, const float* logits,
                                               tandem_token* token);
/* Records a token for the penalties (generated ones, and prompt tokens if they should count). */
TANDEM_API tandem_status tandem_sampler_accept(tandem_sampler* sampler, tandem_token token);
/* Forgets the history and re-seeds: the sampler behaves as new. */
TANDEM_API tandem_status tandem_sampler_reset(tandem_sampler* sampler);

/* ---------------------------------------------------------------- generation */

/* Called with each generated token and its bytes (piece[0, piece_len), valid during the
 * call only; see tandem_token_to_piece). Return 0 to go on, nonzero to stop. */
typedef int (*tandem_token_callback)(tandem_token token, const char* piece, size_t piece_len,
                                     void* user_data);

typedef enum tandem_stop_reason {
  TANDEM_STOP_N_PREDICT = 0,    /* n_predict tokens were generated */
  TANDEM_STOP_EOG = 1,          /* an end-of-generation token (not passed to the callback) */
  TANDEM_STOP_CALLBACK = 2,     /* the callback returned nonzero */
  TANDEM_STOP_FLAG = 3,         /* *stop_flag was set */
  TANDEM_STOP_CONTEXT_FULL = 4  /* no room left in the context */
} tandem_stop_reason;

typedef struct tandem_generate_stats {
  int32_t n_prompt;          /* prompt tokens evaluated */
  int32_t n_generated;       /* tokens sampled, the end-of-generation token included */
  double prefill_seconds;
  double decode_seconds;
  tandem_stop_reason stop_reason;
} tandem_generate_stats;

/* Appends prompt[0, n_prompt) to the context's sequence (tokens already cached stay:
 * call tandem_context_reset for a fresh start, or keep them for a multi-turn chat), then
 * samples up to n_predict tokens (< 0: until end of generation or a full context), each
 * fed back and passed to callback (may be NULL).
 *   sampling: NULL means tandem_sampler_default_params(); prompt tokens are accepted
 *     into the penalties.
 *   stop_flag: may be NULL. It is read with an atomic load before the prompt runs (if set
 *     then, nothing runs) and after each token passed to the callback; set it to nonzero
 *     from another thread (C11: store to an atomic_int and pass its address cast to
 *     const volatile int*) or from a signal handler to stop cleanly.
 *   out_stats: may be NULL; filled when TANDEM_OK is returned.
 * An empty prompt is TANDEM_ERR_INVALID_ARGUMENT (give at least BOS); a prompt that does
 * not fit in the context is TANDEM_ERR_OUT_OF_RANGE, before anything is computed. */
TANDEM_API tandem_status tandem_generate(tandem_context* ctx, const tandem_token* prompt,
                                         size_t n_prompt, int32_t n_predict,
                                         const tandem_sampler_params* sampling,
                                         tandem_token_callback callback, void* user_data,
                                         const volatile int* stop_flag,
                                         tandem_generate_stats* out_stats);

#ifdef __cplusplus
}  /* extern "C" */
#endif

#endif /* TANDEM_TANDEM_H */
