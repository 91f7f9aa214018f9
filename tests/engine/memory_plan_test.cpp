// The GPU memory plan against the fake device: what it plans is exactly what the
// allocator is asked for, a budget one byte short of a full offload drops exactly one
// layer, an explicit layer count that cannot fit is refused with the numbers, and the
// sizes of Llama-3.1-8B Q4_0 (planned from make-model's plan, no file) are checked
// against hand arithmetic.
#include "engine/memory_plan.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <string>

#include "engine/model_file_type.h"
#include "engine/model_plan.h"
#include "engine/model_presets.h"
#include "gpu/attention_scratch.h"
#include "gpu/fake_allocator.h"
#include "storage/gguf.h"
#include "test_data.h"

namespace tandem {
namespace {

constexpr uint64_t kGiB = uint64_t{1} << 30;
constexpr uint64_t kMiB = uint64_t{1} << 20;

PlanModel llama8b(const char* type) {
  auto shape = find_preset("llama3.1-8b");
  auto ft = parse_model_file_type(type);
  EXPECT_TRUE(shape && ft);
  auto plan = plan_model(*shape, *ft, {}, shape->n_vocab, 1);
  EXPECT_TRUE(plan) << plan.error().message();
  return plan_model_of(*plan);
}

MemoryPlan plan_ok(const PlanModel& m, const MemoryPlanConfig& c) {
  auto p = plan_memory(m, c);
  EXPECT_TRUE(p) << p.error().message();
  return p ? std::move(*p) : MemoryPlan{};
}

// Allocates the plan on a fake device of exactly `capacity` bytes with budget `budget`;
// returns the allocator's high-water mark.
uint64_t allocate_on_fake(const MemoryPlan& p, uint64_t capacity, uint64_t budget) {
  gpu::FakeDeviceAllocator a(capacity, budget);
  auto bufs = allocate_plan(p, a);
  EXPECT_TRUE(bufs) << bufs.error().message();
  if (bufs) {
    EXPECT_EQ(bufs->size(), p.items.size());
  }
  return a.high_water();
}

std::vector<std::string> synthetic_models() {
  std::vector<std::string> v;
  const std::string dir = testing::test_data_path("models/synthetic");
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec))
    if (e.path().extension() == ".gguf") v.push_back(e.path().string());
  std::sort(v.begin(), v.end());
  return v;
}

TEST(MemoryPlan, Llama8bQ4_0SizesMatchHandArithmetic) {
  const PlanModel m = llama8b("q4_0");
  MemoryPlanConfig c;
  c.budget = 16 * kGiB;
  const MemoryPlan p = plan_ok(m, c);
  EXPECT_EQ(p.config.n_ctx, 4096);  // min(131072, 4096), as Context picks
  EXPECT_EQ(p.gpu_layers, 32);
  EXPECT_TRUE(p.output_on_gpu);
  // A layer: attn_q, attn_output 4096x4096 and attn_k, attn_v 1024x4096 and three
  // 14336x4096 FFN matrices, Q4_0 (18 bytes per 32), plus two f32 norms of 4096.
  const uint64_t layer = 2 * 9437184 + 2 * 2359296 + 3 * 33030144 + 2 * 16384;
  // Output head: output.weight Q6_K (210 bytes per 256) of 128256x4096, output_norm.
  const uint64_t head = 128256ull * 16 * 210 + 16384;
  // KV per layer: K and V pools of (4096/16 + 1) blocks x 8 heads x 16 tokens x 128 f16.
  const uint64_t kv = 2ull * 257 * 8 * 16 * 128 * 2;
  // Activations at 512 tokens: 5 buffers of n_embd, 2 of kv_dim, 2 of n_ff (f32), the
  // positions, table_start and n_ctx (512 i32 each), one sequence's block table
  // (4096 / 16 i32) and segment (3 i32, rounded up to 256 bytes), one row of logits.
  const uint64_t act = 5ull * 512 * 4096 * 4 + 2ull * 512 * 1024 * 4 + 2ull * 512 * 14336 * 4 + 3 * 2048 + 256 * 4 +
                       256 + 128256ull * 4;
  // Attention scratch: split-K partials of the largest decode launch on 256 SMs (target
  // 1024 CTAs): 63 tokens x 8 KV heads = 504 CTAs, ceil(1024 / 504) = 3 splits, of
  // 32 heads x (2 + 128) floats each.
  const uint64_t attn = 63ull * 32 * 3 * 130 * 4;
  // Workspace: the largest matrix (14336x4096) and the widest input (512x14336) in f16.
  const uint64_t ws = 14336ull * 4096 * 2 + 512ull * 14336 * 2;
  EXPECT_EQ(p.total(PlanKind::kWeights), head + 256 + 32 * layer);  // 256: rope_freqs (64 f32)
  EXPECT_EQ(p.total(PlanKind::kKvCache), 32 * kv);
  EXPECT_EQ(p.total(PlanKind::kActivations), act);
  EXPECT_EQ(p.total(PlanKind::kWorkspace), ws);
  EXPECT_EQ(p.total(PlanKind::kCublas), 32 * kMiB);
  EXPECT_EQ(p.total(PlanKind::kAttentionScratch), attn);
  EXPECT_EQ(p.total(PlanKind::kGraphs), 64 * kMiB);
  EXPECT_EQ(p.total(), 5238148864u);
  // Host keeps token_embd (Q4_0, 128256x4096).
  EXPECT_EQ(p.host_weight_bytes, 128256ull * 4096 / 32 * 18);
  EXPECT_EQ(allocate_on_fake(p, 16 * kGiB, 16 * kGiB), p.total());

  c.budget = 24 * kGiB;
  const MemoryPlan p24 = plan_ok(m, c);
  EXPECT_EQ(p24.gpu_layers, 32);
  EXPECT_EQ(p24.total(), p.total());
}

TEST(MemoryPlan, OneByteShortOfAFullOffloadDropsExactlyOneLayer) {
  const PlanModel m = llama8b("q4_0");
  MemoryPlanConfig c;
  const MemoryPlan full = plan_ok(m, c);  // no budget: everything
  ASSERT_EQ(full.gpu_layers, 32);
  c.budget = full.total() - 1;
  const MemoryPlan p = plan_ok(m, c);
  EXPECT_EQ(p.gpu_layers, 31);
  EXPECT_EQ(p.first_gpu_layer(), 1);  // the first layer goes to the CPU
  EXPECT_TRUE(p.output_on_gpu);
  EXPECT_LE(p.total(), *c.budget);
  EXPECT_EQ(full.total() - p.total(), full.items[2].bytes + full.items[2 + 32].bytes)  // blk.0 weights + KV
      << full.items[2].name << " / " << full.items[2 + 32].name;
  EXPECT_EQ(allocate_on_fake(p, *c.budget, *c.budget), p.total());
  // The full plan does not fit that budget on the fake device either.
  gpu::FakeDeviceAllocator a(64 * kGiB, *c.budget);
  auto bufs = allocate_plan(full, a);
  ASSERT_FALSE(bufs);
  EXPECT_NE(bufs.error().message().find("over the GPU memory budget"), std::string::npos) << bufs.error().message();
}

TEST(MemoryPlan, AutoTakesWhatFitsAndExplicitLayersThatDoNotFitAreRefused) {
  const PlanModel m = llama8b("q4_0");
  MemoryPlanConfig c;
  c.n_ctx = 32768;
  c.n_seq = 4;
  c.kv_type = DType::kF32;  // about 1 GiB of KV per layer
  c.budget = 16 * kGiB;
  // (16 GiB - fixed 342877696 - head 430956544 - 256) / (122716160 + 1074266112) = 13
  // (fixed: with 4 block tables of 2048 i32 and 4 segments of 3 i32, 33024 bytes, and
  // the attention scratch of 3144960 bytes)
  const MemoryPlan p = plan_ok(m, c);
  EXPECT_EQ(p.gpu_layers, 13);
  EXPECT_EQ(p.first_gpu_layer(), 19);
  EXPECT_EQ(p.total(), 16334604032u);
  EXPECT_EQ(allocate_on_fake(p, 16 * kGiB, 16 * kGiB), p.total());
  c.budget = 24 * kGiB;
  EXPECT_EQ(plan_ok(m, c).gpu_layers, 20);

  c.budget = 16 * kGiB;
  c.gpu_layers = 32;
  auto refused = plan_memory(m, c);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code(), Code::kOutOfMemory);
  const std::string& msg = refused.error().message();
  for (const char* needle : {"does not fit", "--gpu-layers 32", "36.39 GiB", "39077267200 bytes", "16.00 GiB",
                             "17179869184 bytes", "20.39 GiB short", "KV cache 32.02 GiB", "attention scratch 3.00 MiB",
                             "13 layers fit"})
    EXPECT_NE(msg.find(needle), std::string::npos) << needle << " missing in: " << msg;

  c.gpu_layers = 13;  // what auto found fits when asked for by number
  EXPECT_EQ(plan_ok(m, c).total(), 16334604032u);
  c.gpu_layers = 14;
  EXPECT_FALSE(plan_memory(m, c));
}

TEST(MemoryPlan, TooSmallABudgetMeansCpuOnlyForAuto) {
  const PlanModel m = llama8b("q4_0");
  MemoryPlanConfig c;
  c.budget = 100 * kMiB;
  const MemoryPlan p = plan_ok(m, c);
  EXPECT_EQ(p.gpu_layers, 0);
  EXPECT_FALSE(p.output_on_gpu);
  EXPECT_TRUE(p.items.empty());
  EXPECT_EQ(p.total(), 0u);
  ASSERT_FALSE(p.notes.empty());
  EXPECT_NE(p.notes[0].find("nothing goes on the GPU"), std::string::npos) << p.notes[0];
  EXPECT_NE(format_plan(p).find("nothing (CPU only)"), std::string::npos);
  c.gpu_layers = 0;  // asked for nothing: nothing, whatever the budget
  c.budget = 64 * kGiB;
  EXPECT_TRUE(plan_ok(m, c).items.empty());
}

TEST(MemoryPlan, EverySyntheticModelAllocatesExactlyItsPlan) {
  const std::vector<std::string> files = synthetic_models();
  if (files.empty()) {
    if (testing::data_required()) FAIL() << "required test data is missing";
    GTEST_SKIP() << "no synthetic models in " << testing::test_data_dir();
  }
  for (const std::string& path : files) {
    SCOPED_TRACE(path);
    auto f = gguf::File::open(path);
    ASSERT_TRUE(f) << f.error().message();
    auto m = plan_model_of(*f);
    ASSERT_TRUE(m) << m.error().message();
    MemoryPlanConfig c;
    c.n_ctx = 256;
    c.max_batch = 64;
    const MemoryPlan full = plan_ok(*m, c);
    ASSERT_EQ(full.gpu_layers, m->config.n_layer);
    EXPECT_EQ(allocate_on_fake(full, full.total(), full.total()), full.total());
    uint64_t all = 0, gpu = 0;
    for (const PlanTensor& t : m->tensors) all += t.bytes;
    for (const PlanItem& it : full.items) {
      uint64_t sum = 0;
      for (const PlanPart& part : it.parts) {
        EXPECT_EQ(part.offset % gpu::kAllocAlignment, 0u) << it.name << " / " << part.name;
        EXPECT_EQ(part.offset, sum) << it.name << " / " << part.name;
        sum += gpu::align_up(part.bytes);
        if (it.kind == PlanKind::kWeights) gpu += part.bytes;
      }
      EXPECT_EQ(it.bytes, sum) << it.name;
    }
    // Host memory keeps token_embd (a copy of it is the head when tied).
    const uint64_t embd = f->find_tensor("token_embd.weight")->nbytes;
    EXPECT_EQ(full.host_weight_bytes, all - gpu + (m->tied_output ? embd : 0));
    EXPECT_EQ(full.host_weight_bytes, embd);

    c.budget = full.total() - 1;
    const MemoryPlan short1 = plan_ok(*m, c);
    EXPECT_EQ(short1.gpu_layers, m->config.n_layer - 1);
    EXPECT_TRUE(short1.output_on_gpu);
    EXPECT_EQ(allocate_on_fake(short1, *c.budget, *c.budget), short1.total());
  }
}

TEST(MemoryPlan, TiedModelsPutTheirEmbeddingInTheHead) {
  const std::string path = testing::test_data_path("models/synthetic/tiny-llama-spm512-q8_0.gguf");
  TANDEM_REQUIRE_DATA(path);
  auto f = gguf::File::open(path);
  ASSERT_TRUE(f);
  auto m = plan_model_of(*f);
  ASSERT_TRUE(m);
  ASSERT_TRUE(m->tied_output);
  const MemoryPlan p = plan_ok(*m, MemoryPlanConfig{});
  ASSERT_FALSE(p.items.empty());
  EXPECT_EQ(p.items[0].name, "output head");
  bool has_embd = false;
  for (const PlanPart& part : p.items[0].parts) has_embd |= part.name == "token_embd.weight";
  EXPECT_TRUE(has_embd);
  // Layers are numbered from the file's blk.N names.
  for (const PlanTensor& t : m->tensors)
    if (t.name.rfind("blk.", 0) == 0) {
      EXPECT_EQ(std::to_string(t.layer), t.name.substr(4, t.name.find('.', 4) - 4));
    }
}

TEST(MemoryPlan, BatchCostsGrowAndNeedAWorkspaceOnlyPastTheGemvLimit) {
  const PlanModel m = llama8b("q4_0");
  const MemoryPlan p = plan_ok(m, MemoryPlanConfig{});
  ASSERT_EQ(p.by_batch.size(), 4u);
  const int32_t sizes[] = {1, 8, 64, 512};
  for (size_t i = 0; i < 4; ++i) EXPECT_EQ(p.by_batch[i].batch, sizes[i]);
  // Batch 1: x, x_norm, q, attn_out, proj_out of 4096, k, v of 1024, gate, up of 14336
  // (f32), positions, table_start and n_ctx rounded to 256, the block table (256 i32)
  // and segment (3 i32, rounded to 256) of the one sequence, one row of logits.
  EXPECT_EQ(p.by_batch[0].activations, 5u * 16384 + 2 * 4096 + 2 * 57344 + 3 * 256 + 1024 + 256 + 128256 * 4);
  EXPECT_EQ(p.by_batch[0].workspace, 0u);
  EXPECT_EQ(p.by_batch[1].workspace, 0u);
  EXPECT_EQ(p.by_batch[2].workspace, 14336ull * 4096 * 2 + 64ull * 14336 * 2);
  for (size_t i = 1; i < 4; ++i) EXPECT_GT(p.by_batch[i].activations, p.by_batch[i - 1].activations);
  EXPECT_EQ(p.by_batch[3].activations, p.total(PlanKind::kActivations));

  MemoryPlanConfig small;
  small.max_batch = 8;  // decode only: no workspace allocation at all
  const MemoryPlan d = plan_ok(m, small);
  EXPECT_EQ(d.total(PlanKind::kWorkspace), 0u);
  for (const PlanItem& it : d.items) EXPECT_NE(it.kind, PlanKind::kWorkspace);
}

TEST(MemoryPlan, AttentionScratchIsSizedForTheContextLimit) {
  const PlanModel m = llama8b("q4_0");
  MemoryPlanConfig c;
  c.n_ctx = 500;  // 32 blocks of 16: a limit of 512 keys, so 2 splits at most
  const MemoryPlan p = plan_ok(m, c);
  const PlanItem* scratch = nullptr;
  for (const PlanItem& it : p.items)
    if (it.kind == PlanKind::kAttentionScratch) scratch = &it;
  ASSERT_NE(scratch, nullptr);
  EXPECT_EQ(scratch->name, "attention scratch");
  // Launches of up to 64 tokens (512 CTAs of the 1024 wanted on 256 SMs) split in 2:
  // 64 tokens x 32 heads x 2 splits x (2 + 128) floats.
  EXPECT_EQ(scratch->bytes, 64ull * 32 * 2 * 130 * 4);
  EXPECT_EQ(scratch->bytes, gpu::attention_scratch_bytes({32, 8, 128, 512, 512}));
  EXPECT_EQ(p.items.back().kind, PlanKind::kGraphs) << "the graph reserve stays the last allocation";
  // A limit under two chunks of 256 keys: no launch splits, no item.
  c.n_ctx = 496;
  for (const PlanItem& it : plan_ok(m, c).items) EXPECT_NE(it.kind, PlanKind::kAttentionScratch);
}

TEST(MemoryPlan, TableShowsGroupsTotalsAndBatches) {
  MemoryPlanConfig c;
  c.budget = 16 * kGiB;
  const MemoryPlan p = plan_ok(llama8b("q4_0"), c);
  const std::string t = format_plan(p);
  std::printf("%s", t.c_str());  // the plan of the example, for whoever reads the log
  for (const char* needle : {"GPU memory plan for llama3.1-8b: 32 layers, context 4096 x 1 sequence, KV f16",
                             "budget: 16.00 GiB", "output head + layers 0-31 (32 of 32 layers)", "blk.0-31 weights",
                             "blk.0-31 KV cache", "117.03 MiB", "3.66 GiB", "cuBLAS workspace",
                             "attention scratch", "3.00 MiB", "CUDA graph reserve",
                             "total on the GPU: 4.88 GiB (5238148864 bytes)", "tensors of blk.31", "ffn_down.weight",
                             "per batch size"})
    EXPECT_NE(t.find(needle), std::string::npos) << needle << " missing in:\n" << t;
}

TEST(MemoryPlan, BadConfigsAreRefused) {
  const PlanModel m = llama8b("q4_0");
  MemoryPlanConfig c;
  c.n_seq = 0;
  EXPECT_EQ(plan_memory(m, c).error().code(), Code::kInvalidArgument);
  c = MemoryPlanConfig{};
  c.kv_type = DType::kQ4_0;
  auto r = plan_memory(m, c);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("q4_0"), std::string::npos) << r.error().message();
  c = MemoryPlanConfig{};
  c.kv_type = DType::kQ8_0;  // 128 is a multiple of 32: fine
  EXPECT_TRUE(plan_memory(m, c));
}

TEST(MemoryPlan, Q8_0KvUsesItsRowSize) {
  const PlanModel m = llama8b("q4_0");
  MemoryPlanConfig c;
  c.kv_type = DType::kQ8_0;
  const MemoryPlan p = plan_ok(m, c);
  // K and V pools of (4096/16 + 1) blocks x 8 heads x 16 tokens x one row of 128 q8_0
  // values: 128 / 32 blocks of 34 bytes (not 128 x an element size).
  const uint64_t kv = 2ull * 257 * 8 * 16 * (128 / 32 * 34);
  EXPECT_EQ(p.total(PlanKind::kKvCache), 32 * kv);
  EXPECT_NE(format_plan(p).find("q8_0"), std::string::npos) << format_plan(p);
}

TEST(MemoryPlan, ParsesGpuLayers) {
  auto a = parse_gpu_layers("auto");
  ASSERT_TRUE(a);
  EXPECT_FALSE(a->has_value());
  auto n = parse_gpu_layers("20");
  ASSERT_TRUE(n);
  EXPECT_EQ(**n, 20);
  EXPECT_EQ(**parse_gpu_layers("0"), 0);
  for (const char* bad : {"", "-1", "x", "12x", "Auto ", "1e3"}) {
    auto r = parse_gpu_layers(bad);
    EXPECT_FALSE(r) << bad;
    if (!r) {
      EXPECT_NE(r.error().message().find("--gpu-layers"), std::string::npos);
    }
  }
}

}  // namespace
}  // namespace tandem
