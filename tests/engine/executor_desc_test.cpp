// The executor description made from a memory plan (engine/device_layers.h) is what the
// CUDA executor needs, checked with no GPU: the chunk inputs (positions, table_start,
// n_ctx, segments, block tables, x) form the one region a single copy fills
// (gpu/cuda/chunk_inputs.h), the attention scratch holds what any decode launch may
// need on any GPU (gpu/attention_scratch.h), and the graph reserve is an allocation of
// its own, for every synthetic model and stories260K, full offload and one layer.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "engine/device_layers.h"
#include "engine/memory_plan.h"
#include "engine/model.h"
#include "gpu/attention_scratch.h"
#include "gpu/cuda/chunk_inputs.h"
#include "test_data.h"

namespace tandem {
namespace {

std::vector<std::string> models() {
  std::vector<std::string> v = {testing::test_data_path("models/stories260K.gguf")};
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(testing::test_data_path("models/synthetic"), ec))
    if (e.path().extension() == ".gguf") v.push_back(e.path().string());
  std::sort(v.begin() + 1, v.end());
  return v;
}

TEST(ExecutorDescFromPlan, HasTheChunkInputRegionTheScratchAndAReserveOfItsOwn) {
  const std::vector<std::string> files = models();
  TANDEM_REQUIRE_DATA(files.front());
  for (const std::string& path : files) {
    auto model = Model::load(path);
    ASSERT_TRUE(model) << path << ": " << model.error().message();
    auto pm = plan_model_of((*model)->file());
    ASSERT_TRUE(pm) << pm.error().message();
    for (const int32_t layers : {(*model)->config().n_layer, 1}) {
      for (const int32_t n_ctx : {64, 1000}) {
        SCOPED_TRACE(path + ", " + std::to_string(layers) + " layers, context " + std::to_string(n_ctx));
        MemoryPlanConfig c;
        c.n_ctx = n_ctx;
        c.n_seq = 3;
        c.max_batch = 64;
        c.gpu_layers = layers;
        auto plan = plan_memory(*pm, c);
        ASSERT_TRUE(plan) << plan.error().message();
        auto d = executor_desc(*plan, **model);
        ASSERT_TRUE(d) << d.error().message();
        auto ci = gpu::chunk_inputs_layout(*d);
        ASSERT_TRUE(ci) << ci.error().message();
        EXPECT_EQ(ci->x, ci->block_tables + gpu::align_up(uint64_t{3} * d->act.blocks_per_seq * 4));
        EXPECT_EQ(ci->bytes, ci->x + uint64_t{64} * static_cast<uint64_t>(d->model.n_embd) * 4);

        gpu::AttnScratchShape s;
        s.n_heads = d->model.n_head;
        s.n_kv_heads = d->model.n_head_kv;
        s.head_dim = d->model.head_dim;
        s.max_batch = d->act.max_batch;
        s.max_ctx = d->act.blocks_per_seq * d->kv.block_tokens;
        const uint64_t need = gpu::attention_scratch_bytes(s);
        EXPECT_EQ(d->attention_scratch.present(), need > 0);
        if (need > 0) {
          EXPECT_GE(d->attention_scratch.bytes, need);
          EXPECT_EQ(d->attention_scratch.offset % 16, 0u);
        }
        EXPECT_EQ(n_ctx >= 512, need > 0) << "splits need a limit of two chunks of 256 keys";

        ASSERT_TRUE(d->graph_reserve.present());
        EXPECT_EQ(d->graph_reserve.offset, 0u);
        EXPECT_EQ(d->graph_reserve.bytes, d->allocations[static_cast<size_t>(d->graph_reserve.alloc)].bytes);
        EXPECT_TRUE(d->graphs);
      }
    }
  }
}

}  // namespace
}  // namespace tandem
