// The CUDA executor at its interface (gpu/executor.h), call by call against the emulated
// executor (engine/emulated_gpu.h) on the f32 copy of the same model (gpu_engine_util.h:
// f32 math on both sides): batches of several sequences with shuffled block tables,
// prefill parts of 13 tokens next to decode tokens, logits of rows in any order, the
// hidden state (logits off) after part of the layers and the rest of the layers from
// there, chunks of max_batch rows, KV blocks copied on the device (copy_blocks) and read
// by a sequence that continues from them, the head alone (no layers), and the refusal
// of a batch that does not fit. Skips without a CUDA device.
//
// Bounds, from a host model of the GPU's numerics (f32 dequantized weights, f32
// activations and sums; past kGemvMaxBatch rows, weights and activations rounded to f16
// as gemm_quant does) on these models and calls: the f16 GEMM path (max_batch 512, parts
// of 9 and more tokens) moved a logit by up to 0.027 and the hidden state by 1.6e-3 of
// its largest value; bounds 0.25 and 2e-2. The f32 path differs from the emulated
// executor only in the order of f32 sums (the host model, summing in the same order,
// gave 0): bounds as cuda_context_test.cpp's, whose CPU oracle sums in another order
// (f32 KV 2e-4 in a logit and 1e-4 of the hidden state; f16/bf16/q8_0 KV, where such a
// difference may flip the rounding of a cached element, 2e-2 and 1e-2).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "engine/device_compare.h"
#include "engine/device_layers.h"
#include "engine/emulated_gpu.h"
#include "engine/memory_plan.h"
#include "engine/model.h"
#include "gpu_engine_util.h"
#include "test_data.h"

namespace tandem {
namespace {

using testing::CaseName;
using testing::load_model;
using testing::ModelCase;

struct Bound {
  double logits;  // max |dlogit|
  double hidden;  // max |dx| / max |x|
};

Bound bound_for(DType weights, int32_t max_batch, DType kv) {
  if (weights != DType::kF32 && max_batch > 8) return {0.25, 2e-2};  // the f16 GEMM path
  return kv == DType::kF32 ? Bound{2e-4, 1e-4} : Bound{2e-2, 1e-2};
}

MemoryPlan plan_for(const Model& m, int32_t max_batch, DType kv, int32_t gpu_layers) {
  auto pm = plan_model_of(m.file());
  EXPECT_TRUE(pm) << pm.error().message();
  MemoryPlanConfig c;
  c.n_ctx = 64;
  c.n_seq = 3;
  c.block_tokens = 4;
  c.kv_type = kv;
  c.max_batch = max_batch;
  c.gpu_layers = gpu_layers;
  auto p = plan_memory(*pm, c);
  EXPECT_TRUE(p) << p.error().message();
  return p ? std::move(*p) : MemoryPlan{};
}

// The CUDA executor on the model's own weights and the emulated one on its f32 copy,
// each with its allocator (declared first: destroyed after its executor).
struct Devices {
  std::unique_ptr<gpu::Allocator> dev_alloc, ref_alloc;
  std::unique_ptr<gpu::GpuExecutor> dev, ref;
};

struct Worst {
  double logits = 0;  // max |dlogit|
  double hidden = 0;  // max |dx| / max |x|
};

using Seq = testing::ExecSeq;
using Call = testing::ExecCall;

class Script : public testing::ExecScriptBase {
 public:
  Script(Devices& d, const gpu::ExecModel& m, Bound b) : ExecScriptBase(m, 7), d_(d), bound_(b) {}

  // Runs `c` on both executors and compares; returns the reference's output.
  std::vector<float> run(const Call& c, const std::string& what) {
    SCOPED_TRACE(what);
    gpu::ExecBatch b = batch(c, d_.dev->first_layer());
    const size_t size = out_size(c);
    std::vector<float> got(size, NAN), want(size, NAN);
    b.out = got.data();
    const Status sd = d_.dev->run(b);
    EXPECT_TRUE(sd) << sd.error().message();
    b.out = want.data();
    const Status sr = d_.ref->run(b);
    EXPECT_TRUE(sr) << sr.error().message();
    double diff = 0, scale = 0;
    for (size_t i = 0; i < size; ++i) {
      const double e = std::abs(static_cast<double>(got[i]) - want[i]);
      if (!(e <= diff)) diff = e;  // NaN too
      scale = std::max(scale, std::abs(static_cast<double>(want[i])));
    }
    if (c.logits) {
      worst_.logits = std::max(worst_.logits, diff);
      EXPECT_LE(diff, bound_.logits) << "max |dlogit|";
    } else {
      const double rel = diff / std::max(scale, 1e-30);
      worst_.hidden = std::max(worst_.hidden, rel);
      EXPECT_LE(rel, bound_.hidden) << "max |dx| / max |x|";
    }
    return want;
  }

  void copy_blocks(std::span<const gpu::BlockCopy> copies) {
    for (gpu::GpuExecutor* e : {d_.dev.get(), d_.ref.get()}) {
      const Status st = e->copy_blocks(copies);
      EXPECT_TRUE(st) << st.error().message();
    }
  }

  const Worst& worst() const { return worst_; }

 private:
  Devices& d_;
  Bound bound_;
  Worst worst_;
};

using CudaExecutor = testing::CudaBackendTest<::testing::TestWithParam<ModelCase>>;

TEST_P(CudaExecutor, MatchesTheEmulatedExecutorCallByCall) {
  const std::string path = testing::test_data_path(GetParam().model);
  TANDEM_REQUIRE_DATA(path);
  auto model = load_model(path);
  ASSERT_NE(model, nullptr);
  auto f32_model = testing::load_f32_copy(path);
  ASSERT_NE(f32_model, nullptr);
  const int32_t n_layer = model->config().n_layer;
  EmulatedGpuBackend emulated;
  for (const int32_t max_batch : {4, 512}) {
    for (const int32_t gpu_layers : {n_layer, 1}) {
      const std::string what = "max_batch " + std::to_string(max_batch) + ", " + std::to_string(gpu_layers) + " layers";
      SCOPED_TRACE(what);
      const MemoryPlan plan = plan_for(*model, max_batch, GetParam().kv, gpu_layers);
      const MemoryPlan ref_plan = plan_for(*f32_model, max_batch, GetParam().kv, gpu_layers);
      auto desc = executor_desc(plan, *model);
      ASSERT_TRUE(desc) << desc.error().message();
      auto ref_desc = executor_desc(ref_plan, *f32_model);
      ASSERT_TRUE(ref_desc) << ref_desc.error().message();
      Devices d;
      auto da = backend().make_allocator(plan.total());
      auto ra = emulated.make_allocator(ref_plan.total());
      ASSERT_TRUE(da && ra);
      d.dev_alloc = std::move(*da);
      d.ref_alloc = std::move(*ra);
      auto de = backend().create_executor(*desc, *d.dev_alloc);
      ASSERT_TRUE(de) << de.error().message();
      auto re = emulated.create_executor(*ref_desc, *d.ref_alloc);
      ASSERT_TRUE(re) << re.error().message();
      d.dev = std::move(*de);
      d.ref = std::move(*re);
      EXPECT_EQ(d.dev_alloc->high_water(), plan.total());

      const gpu::ExecModel& m = desc->model;
      const int32_t first = desc->first_layer;
      const int32_t bps = desc->act.blocks_per_seq;
      Script sc(d, m, bound_for(desc->layers.front().wq.type, max_batch, GetParam().kv));
      // Three sequences on shuffled blocks; the pool's last blocks stay spare.
      std::vector<int32_t> perm(static_cast<size_t>(desc->kv.n_blocks));
      std::iota(perm.begin(), perm.end(), 0);
      std::shuffle(perm.begin(), perm.end(), std::mt19937(11));
      std::vector<Seq> seqs(3);
      for (size_t i = 0; i < seqs.size(); ++i)
        seqs[i].table.assign(perm.begin() + static_cast<ptrdiff_t>(i) * bps, perm.begin() + static_cast<ptrdiff_t>(i + 1) * bps);
      const int32_t spare = perm[3 * static_cast<size_t>(bps)];

      // Prefill parts of 13, 6 and 1 tokens; logits of rows in any order.
      Call c;
      sc.add(c, seqs[0], 13);
      sc.add(c, seqs[1], 6);
      sc.add(c, seqs[2], 1);
      c.x = sc.random_x(20);
      c.out_rows = {19, 12, 18, 5};
      sc.run(c, "prefill");

      // One decode token each: the hidden state after the first device layer, then
      // the rest of the layers and the head from the reference's hidden state.
      Call h;
      for (Seq& s : seqs) sc.add(h, s, 1);
      h.x = sc.random_x(3);
      h.first_layer = first;
      h.n_layers = 1;
      h.logits = false;
      const std::vector<float> hidden = sc.run(h, "decode, first device layer, hidden state");
      if (n_layer - first > 1) {
        Call rest = h;
        rest.x = hidden;
        rest.first_layer = first + 1;
        rest.n_layers = -1;
        rest.logits = true;
        rest.out_rows = {0, 1, 2};
        sc.run(rest, "decode, the other layers and the head");
      }

      // Sequence 2 becomes a fork of sequence 0 (14 tokens: its last block, 2 of 4
      // filled, copied on write to the spare block); both continue, and sequence 1
      // brings a 9-token part (prefill attention) between them.
      std::copy_n(seqs[0].table.begin(), 3, seqs[2].table.begin());  // its blocks 4.. stay its own
      seqs[2].table[3] = spare;
      seqs[2].len = seqs[0].len;
      const gpu::BlockCopy cow[] = {{seqs[0].table[3], spare}};
      sc.copy_blocks(cow);
      for (int step = 0; step < 4; ++step) {
        Call s;
        sc.add(s, seqs[0], 1);
        sc.add(s, seqs[1], step == 1 ? 9 : 1);
        sc.add(s, seqs[2], 1);
        const int64_t n = s.segments.back().first + 1;
        s.x = sc.random_x(n);
        for (int64_t r = n; r-- > 0;) s.out_rows.push_back(r);
        sc.run(s, "decode step " + std::to_string(step) + " after the fork");
      }

      // The head alone.
      Call head;
      head.x = sc.random_x(5);
      head.first_layer = n_layer;
      head.n_layers = 0;
      head.out_rows = {4, 0, 2};
      sc.run(head, "head only");

      // Batches that do not fit are refused, and nothing runs.
      std::vector<float> x = sc.random_x(1), out(static_cast<size_t>(m.n_vocab));
      std::vector<int32_t> bad_table = seqs[0].table;
      bad_table[0] = desc->kv.n_blocks;
      const gpu::BatchSegment bad_seg[] = {{0, 1, 0, bad_table}};
      gpu::ExecBatch bad;
      bad.first_layer = first;
      bad.x = x.data();
      bad.n_tokens = 1;
      bad.segments = bad_seg;
      bad.out = out.data();
      const Status st = d.dev->run(bad);
      ASSERT_FALSE(st);
      EXPECT_EQ(st.error().code(), Code::kInvalidArgument);
      EXPECT_NE(st.error().message().find("outside [0, "), std::string::npos) << st.error().message();
      if (first > 0) {
        const gpu::BatchSegment seg[] = {{0, 1, 0, seqs[0].table}};
        bad.segments = seg;
        bad.first_layer = 0;
        const Status st2 = d.dev->run(bad);
        ASSERT_FALSE(st2);
        EXPECT_EQ(st2.error().code(), Code::kInvalidArgument);
      }
      EXPECT_EQ(d.dev_alloc->high_water(), plan.total()) << "running allocates nothing more";
      std::printf("[ cuda ] %-52s KV %-5s %-26s max |dlogit| %.3g, hidden %.3g of max\n", GetParam().model.c_str(),
                  std::string(dtype_name(GetParam().kv)).c_str(), what.c_str(), sc.worst().logits, sc.worst().hidden);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Models, CudaExecutor,
                         ::testing::Values(ModelCase{"models/stories260K.gguf", DType::kF32},
                                           ModelCase{"models/stories260K.gguf", DType::kBF16},
                                           ModelCase{"models/synthetic/tiny-llama-spm512-q4_0.gguf", DType::kF16},
                                           ModelCase{"models/synthetic/tiny-llama-spm512-q4_k_m.gguf", DType::kQ8_0},
                                           ModelCase{"models/synthetic/tiny-llama-spm512-f16.gguf", DType::kF32},
                                           ModelCase{"models/synthetic/tiny-qwen2-bpe4k-q8_0.gguf", DType::kF32}),
                         CaseName());

}  // namespace
}  // namespace tandem
