// C API: text to tokens and back, into caller-provided buffers.
#include <cstring>
#include <string>
#include <string_view>

#include "api/api_internal.h"

namespace tandem::api {
namespace {

tandem_status buffer_too_small(const char* fn, size_t needed, size_t capacity, const char* unit) {
  return fail(TANDEM_ERR_BUFFER_TOO_SMALL, std::string(fn) + ": needs " + std::to_string(needed) + " " +
                                               unit + ", the buffer holds " + std::to_string(capacity));
}

// Copies bytes into buf[0, capacity) with the rules of tandem_token_to_piece: the length
// always goes to *n_bytes; the bytes only if they fit; a NUL after them if there is room.
tandem_status copy_bytes(const char* fn, std::string_view bytes, char* buf, size_t capacity,
                         size_t* n_bytes) {
  *n_bytes = bytes.size();
  if (capacity < bytes.size()) return buffer_too_small(fn, bytes.size(), capacity, "bytes");
  if (!bytes.empty()) std::memcpy(buf, bytes.data(), bytes.size());
  if (capacity > bytes.size()) buf[bytes.size()] = '\0';
  return ok();
}

// Checks the arguments tandem_token_to_piece and tandem_detokenize share.
tandem_status check_text_out(const char* fn, const tandem_model* model, const char* buf,
                             size_t capacity, const size_t* n_bytes) {
  if (model == nullptr) return fail(TANDEM_ERR_INVALID_ARGUMENT, std::string(fn) + ": model is NULL");
  if (n_bytes == nullptr) return fail(TANDEM_ERR_INVALID_ARGUMENT, std::string(fn) + ": n_bytes is NULL");
  if (buf == nullptr && capacity > 0)
    return fail(TANDEM_ERR_INVALID_ARGUMENT,
                std::string(fn) + ": buf is NULL but capacity is " + std::to_string(capacity));
  return TANDEM_OK;
}

tandem_status bad_token(const char* fn, const char* where, tandem_token token, const LoadedModel& m) {
  return fail(TANDEM_ERR_INVALID_ARGUMENT, std::string(fn) + ": token " + std::to_string(token) + where +
                                               " is outside the vocabulary [0, " +
                                               std::to_string(m.tokenizer->n_vocab()) + ")");
}

}  // namespace
}  // namespace tandem::api

using tandem::api::fail;
using tandem::api::guarded;
using tandem::api::ok;

extern "C" {

tandem_status tandem_tokenize(const tandem_model* model, const char* text, size_t text_len,
                              int add_bos, int parse_special, tandem_token* tokens, size_t capacity,
                              size_t* n_tokens) {
  return guarded([&]() -> tandem_status {
    static constexpr const char* fn = "tandem_tokenize";
    if (n_tokens != nullptr) *n_tokens = 0;
    if (model == nullptr) return fail(TANDEM_ERR_INVALID_ARGUMENT, "tandem_tokenize: model is NULL");
    if (n_tokens == nullptr) return fail(TANDEM_ERR_INVALID_ARGUMENT, "tandem_tokenize: n_tokens is NULL");
    if (text == nullptr && text_len > 0)
      return fail(TANDEM_ERR_INVALID_ARGUMENT,
                  "tandem_tokenize: text is NULL but text_len is " + std::to_string(text_len));
    if (tokens == nullptr && capacity > 0)
      return fail(TANDEM_ERR_INVALID_ARGUMENT,
                  "tandem_tokenize: tokens is NULL but capacity is " + std::to_string(capacity));
    if (add_bos < TANDEM_ADD_BOS_DEFAULT || add_bos > 1)
      return fail(TANDEM_ERR_INVALID_ARGUMENT,
                  "tandem_tokenize: add_bos is " + std::to_string(add_bos) +
                      ", must be 0, 1 or TANDEM_ADD_BOS_DEFAULT (-1)");
    const tandem::Tokenizer& tok = *model->loaded->tokenizer;
    const bool bos = add_bos == TANDEM_ADD_BOS_DEFAULT ? tok.add_bos_default() : add_bos == 1;
    const std::string_view in = text_len > 0 ? std::string_view(text, text_len) : std::string_view();
    auto ids = tok.encode(in, bos, parse_special != 0);
    if (!ids) return fail(ids.error());
    *n_tokens = ids->size();
    if (capacity < ids->size()) return tandem::api::buffer_too_small(fn, ids->size(), capacity, "tokens");
    if (!ids->empty()) std::memcpy(tokens, ids->data(), ids->size() * sizeof(tandem_token));
    return ok();
  });
}

tandem_status tandem_token_to_piece(const tandem_model* model, tandem_token token, int render_special,
                                    char* buf, size_t capacity, size_t* n_bytes) {
  return guarded([&]() -> tandem_status {
    static constexpr const char* fn = "tandem_token_to_piece";
    if (n_bytes != nullptr) *n_bytes = 0;
    if (tandem_status s = tandem::api::check_text_out(fn, model, buf, capacity, n_bytes); s != TANDEM_OK)
      return s;
    const tandem::api::LoadedModel& m = *model->loaded;
    if (!tandem::api::token_in_vocab(m, token)) return tandem::api::bad_token(fn, "", token, m);
    const std::string piece = m.tokenizer->token_to_piece(token, render_special != 0);
    return tandem::api::copy_bytes(fn, piece, buf, capacity, n_bytes);
  });
}

tandem_status tandem_detokenize(const tandem_model* model, const tandem_token* tokens, size_t n_tokens,
                                int render_special, char* buf, size_t capacity, size_t* n_bytes) {
  return guarded([&]() -> tandem_status {
    static constexpr const char* fn = "tandem_detokenize";
    if (n_bytes != nullptr) *n_bytes = 0;
    if (tandem_status s = tandem::api::check_text_out(fn, model, buf, capacity, n_bytes); s != TANDEM_OK)
      return s;
    if (tokens == nullptr && n_tokens > 0)
      return fail(TANDEM_ERR_INVALID_ARGUMENT,
                  "tandem_detokenize: tokens is NULL but n_tokens is " + std::to_string(n_tokens));
    const tandem::api::LoadedModel& m = *model->loaded;
    std::string text;
    for (size_t i = 0; i < n_tokens; ++i) {
      if (!tandem::api::token_in_vocab(m, tokens[i])) {
        const std::string where = " at index " + std::to_string(i);
        return tandem::api::bad_token(fn, where.c_str(), tokens[i], m);
      }
      text += m.tokenizer->token_to_piece(tokens[i], render_special != 0);
    }
    return tandem::api::copy_bytes(fn, text, buf, capacity, n_bytes);
  });
}

}  // extern "C"
