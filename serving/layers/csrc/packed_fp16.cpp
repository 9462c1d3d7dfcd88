// FBGEMM fp16-packed linear weights to and from their packed bytes (see ``layers/packed_fp16.py``).
//
// ``quantized::linear_prepack_fp16`` re-lays a weight out element by element (about 15-90 ns per
// weight on AVX2); these two ops let the loader keep the packed bytes on disk and rebuild the very same
// ``PackedLinearWeightFp16`` with one copy. Only the used prefix of FBGEMM's buffer travels: the rest
// is the zero padding its constructor writes.
#include <ATen/native/quantized/cpu/fbgemm_utils.h>
#include <ATen/ops/empty.h>
#include <torch/library.h>

#include <cstring>

using Params = c10::intrusive_ptr<LinearPackedParamsBase>;

namespace {

// number of fp16 values of the buffer that carry weights (the last block row holds last_brow rows)
int64_t used_values(const fbgemm::PackedGemmMatrixFP16& w) {
  return static_cast<int64_t>(w.numRows()) * w.blockColSize() * w.numBcol();
}

// (blob, [nrow, ncol, brow, last_brow, bcol, nbrow, nbcol, kernel_ncol_blocks]) of a packed weight
std::tuple<at::Tensor, std::vector<int64_t>> fp16_raw(const Params& packed) {
  auto* p = dynamic_cast<PackedLinearWeightFp16*>(packed.get());
  TORCH_CHECK(p != nullptr && p->w, "not an FBGEMM fp16-packed weight");
  const auto& w = *p->w;
  const int64_t n = used_values(w);
  at::Tensor blob = at::empty({n}, at::kHalf);
  std::memcpy(blob.data_ptr(), w.pmat(), n * sizeof(fbgemm::float16));
  std::vector<int64_t> layout = {w.numRows(),      w.numCols(), w.blockRowSize(), w.lastBrow(),
                                 w.blockColSize(), w.numBrow(), w.numBcol(),      w.kernelNumColBlocks()};
  return {blob, layout};
}

Params fp16_from_raw(const at::Tensor& blob, std::vector<int64_t> layout, std::optional<at::Tensor> bias) {
  TORCH_CHECK(layout.size() == 8, "a packed layout has 8 numbers, got ", layout.size());
  const int64_t nrow = layout[0], ncol = layout[1], brow = layout[2], last_brow = layout[3];
  const int64_t bcol = layout[4], nbrow = layout[5], nbcol = layout[6], kblocks = layout[7];
  TORCH_CHECK(nrow > 0 && ncol > 0 && brow > 0 && bcol > 0, "bad packed layout");
  TORCH_CHECK(nbrow == (nrow + brow - 1) / brow && nbcol == (ncol + bcol - 1) / bcol, "bad packed layout");
  TORCH_CHECK(last_brow == (nrow % brow == 0 ? brow : nrow % brow), "bad packed layout");
  TORCH_CHECK(blob.scalar_type() == at::kHalf && blob.dim() == 1 && blob.is_contiguous(),
              "packed weights must be a contiguous 1-D float16 tensor");
  TORCH_CHECK(blob.numel() == nrow * bcol * nbcol, "packed weights hold ", blob.numel(),
              " values, the layout needs ", nrow * bcol * nbcol);
  auto w = std::make_unique<fbgemm::PackedGemmMatrixFP16>(nrow, ncol, brow, last_brow, bcol, nbrow, nbcol,
                                                          static_cast<uint64_t>(brow * nbrow * bcol * nbcol));
  TORCH_CHECK(w->kernelNumColBlocks() == kblocks, "weights packed for ", kblocks,
              " column blocks; this build uses ", w->kernelNumColBlocks());
  std::memcpy(w->pmat(), blob.data_ptr(), blob.numel() * sizeof(fbgemm::float16));
  w->setPacked(true);
  return c10::make_intrusive<PackedLinearWeightFp16>(std::move(w), std::move(bias));
}

}  // namespace

TORCH_LIBRARY(splitsecond_packed_fp16, m) {
  m.def("raw", fp16_raw);
  m.def("from_raw", fp16_from_raw);
}
