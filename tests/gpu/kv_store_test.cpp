// The executor's glue kernels against the CPU, byte for byte: kv_store writes every
// token's K and V rows where cpu::store_kv_row writes them, in the same bytes, for each
// KV type (two sequences on shuffled blocks, tokens at scattered positions, values with
// outliers and exact halfway cases); bias_add_f32 adds as the CPU adds.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "cpu/ops_ref.h"
#include "gpu/cuda/bias_add.cuh"
#include "gpu/cuda/kv_store.cuh"
#include "gpu_test_util.h"

namespace tandem::gpu {
namespace {

using testing::GpuTest;

TEST_F(GpuTest, KvStoreWritesTheCpusBytes) {
  constexpr int32_t kHeads = 3, kBlockTokens = 4, kBlocks = 12, kTableLen = 5;
  for (DType type : {DType::kF32, DType::kF16, DType::kBF16, DType::kQ8_0}) {
    for (int32_t head_dim : {32, 64, 128}) {
      const std::string what = std::string(dtype_name(type)) + " head_dim " + std::to_string(head_dim);
      // Two sequences' tables on shuffled blocks; 7 tokens at positions of both.
      std::vector<int32_t> blocks(kBlocks);
      std::iota(blocks.begin(), blocks.end(), 0);
      std::shuffle(blocks.begin(), blocks.end(), std::mt19937(head_dim));
      const std::vector<int32_t> tables(blocks.begin(), blocks.begin() + 2 * kTableLen);  // [2, kTableLen]
      const std::vector<int32_t> positions = {0, 5, 6, 19, 3, 4, 17};
      const std::vector<int32_t> table_start = {0, 0, 0, 0, kTableLen, kTableLen, kTableLen};
      const int32_t n = static_cast<int32_t>(positions.size());
      const int64_t width = int64_t{kHeads} * head_dim;
      std::vector<float> k = testing::random_floats_for(static_cast<size_t>(n * width), 101 + head_dim);
      std::vector<float> v = testing::random_floats(static_cast<size_t>(n * width), 202 + head_dim, 0.3f);
      k[1] = 1.0f + 1.0f / 2048;   // halfway between two halves: rounds to even
      k[2] = 1.0f + 3.0f / 2048;
      k[3] = 1.0f + 1.0f / 256;    // halfway between two bf16 values
      const int64_t rb = cpu::kv_row_bytes(type, head_dim);
      const size_t pool_bytes = static_cast<size_t>(int64_t{kBlocks} * kHeads * kBlockTokens * rb);

      std::vector<std::byte> want_k(pool_bytes), want_v(pool_bytes);
      for (int32_t t = 0; t < n; ++t) {
        const int32_t pos = positions[t];
        const int64_t block = tables[static_cast<size_t>(table_start[t] + pos / kBlockTokens)];
        for (int32_t h = 0; h < kHeads; ++h) {
          const int64_t row = (block * kHeads + h) * kBlockTokens + pos % kBlockTokens;
          cpu::store_kv_row(want_k.data(), type, row, head_dim, k.data() + t * width + int64_t{h} * head_dim);
          cpu::store_kv_row(want_v.data(), type, row, head_dim, v.data() + t * width + int64_t{h} * head_dim);
        }
      }

      DeviceBuffer dk = upload(k), dv = upload(v), dpos = upload(positions), dtab = upload(tables),
                   dstart = upload(table_start);
      DeviceBuffer pk = upload(std::vector<std::byte>(pool_bytes)), pv = upload(std::vector<std::byte>(pool_bytes));
      KvStoreArgs a;
      a.k = dk.as<float>();
      a.v = dv.as<float>();
      a.k_pool = pk.data();
      a.v_pool = pv.data();
      a.type = type;
      a.n_tokens = n;
      a.n_kv_heads = kHeads;
      a.head_dim = head_dim;
      a.block_tokens = kBlockTokens;
      a.positions = dpos.as<int32_t>();
      a.block_tables = dtab.as<int32_t>();
      a.table_start = dstart.as<int32_t>();
      ASSERT_EQ(kv_store(a, stream()), cudaSuccess) << what;
      const auto got_k = download<std::byte>(pk, pool_bytes), got_v = download<std::byte>(pv, pool_bytes);
      EXPECT_EQ(std::memcmp(got_k.data(), want_k.data(), pool_bytes), 0) << what << ": K pool";
      EXPECT_EQ(std::memcmp(got_v.data(), want_v.data(), pool_bytes), 0) << what << ": V pool";
    }
  }
}

TEST_F(GpuTest, KvStoreRefusesShapesOffTheContract) {
  KvStoreArgs a;
  a.type = DType::kQ8_0;
  a.n_tokens = 1;
  a.n_kv_heads = 1;
  a.head_dim = 48;  // not a multiple of 32
  a.block_tokens = 4;
  EXPECT_EQ(kv_store(a, stream()), cudaErrorInvalidValue);
  a.type = DType::kQ4_0;
  a.head_dim = 64;
  EXPECT_EQ(kv_store(a, stream()), cudaErrorInvalidValue);
  a.type = DType::kF16;
  EXPECT_EQ(kv_store(a, stream()), cudaErrorInvalidValue) << "null pointers";
  a.n_tokens = 0;
  EXPECT_EQ(kv_store(a, stream()), cudaSuccess) << "nothing to do";
}

TEST_F(GpuTest, BiasAddIsExact) {
  for (auto [rows, cols] : {std::pair<int64_t, int64_t>{1, 128}, {7, 96}, {513, 1024}}) {
    const auto y = testing::random_floats(static_cast<size_t>(rows * cols), rows + cols);
    const auto b = testing::random_floats(static_cast<size_t>(cols), cols, 0.1f);
    DeviceBuffer dy = upload(y), db = upload(b);
    ASSERT_EQ(bias_add_f32(dy.as<float>(), db.as<float>(), rows, cols, stream()), cudaSuccess);
    const auto got = download<float>(dy, static_cast<size_t>(rows * cols));
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t i = 0; i < cols; ++i)
        ASSERT_EQ(got[static_cast<size_t>(r * cols + i)], y[static_cast<size_t>(r * cols + i)] + b[static_cast<size_t>(i)])
            << rows << " x " << cols << " at " << r << ", " << i;
  }
}

}  // namespace
}  // namespace tandem::gpu
