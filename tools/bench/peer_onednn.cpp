#include <cstdlib>
#include <cstring>

#include "peers.h"

#if defined(NF_HAVE_ONEDNN)
#include <dnnl.hpp>
#endif

namespace nfbench {

#if defined(NF_HAVE_ONEDNN)

std::string onednn_status() { return ""; }

void prepare_onednn() {
#if defined(NF_ONEDNN_OPENCL_ICD)
    // The oneDNN wheel on PyPI is a SYCL build: its CPU engine runs on the OpenCL CPU runtime
    // that the wheel's dependencies put beside it. Point the OpenCL loader at it (before the
    // first engine is created) unless the user chose one.
    setenv("OCL_ICD_FILENAMES", NF_ONEDNN_OPENCL_ICD, 0);
#endif
}

std::string onednn_version() {
    const dnnl_version_t *v = dnnl_version();
    return std::to_string(v->major) + "." + std::to_string(v->minor) + "." + std::to_string(v->patch);
}

namespace {

struct OnednnImpl : OnednnRmsNorm {
    dnnl::engine eng{dnnl::engine::kind::cpu, 0};
    dnnl::stream strm{eng};
    dnnl::memory::desc md;
    dnnl::memory src, dst, scale, shift;
    dnnl::layer_normalization_forward prim;
    std::vector<float> w, b;

    void run(const void *x, void *y) override {
        src.set_data_handle(const_cast<void *>(x));
        dst.set_data_handle(y);
        if (b.empty())
            prim.execute(strm, {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst}, {DNNL_ARG_SCALE, scale}});
        else
            prim.execute(strm, {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst}, {DNNL_ARG_SCALE, scale},
                                {DNNL_ARG_SHIFT, shift}});
        strm.wait();
    }
};

}  // namespace

std::unique_ptr<OnednnRmsNorm> make_onednn_norm(Dtype d, int64_t rows, int64_t cols, const float *weight,
                                                const float *bias, float eps, std::string *why) {
    try {
        auto p = std::make_unique<OnednnImpl>();
        using dt = dnnl::memory::data_type;
        p->md = dnnl::memory::desc({rows, cols}, d == Dtype::F32 ? dt::f32 : dt::bf16,
                                   dnnl::memory::format_tag::ab);
        dnnl::memory::desc scale_md({cols}, dt::f32, dnnl::memory::format_tag::a);
        auto flags = bias ? dnnl::normalization_flags::use_scale | dnnl::normalization_flags::use_shift
                          : dnnl::normalization_flags::use_scale | dnnl::normalization_flags::rms_norm;
        auto pd = dnnl::layer_normalization_forward::primitive_desc(
            p->eng, dnnl::prop_kind::forward_inference, p->md, p->md, eps, flags);
        p->prim = dnnl::layer_normalization_forward(pd);
        p->w.assign(weight, weight + cols);
        p->src = dnnl::memory(p->md, p->eng, DNNL_MEMORY_NONE);
        p->dst = dnnl::memory(p->md, p->eng, DNNL_MEMORY_NONE);
        p->scale = dnnl::memory(scale_md, p->eng, p->w.data());
        if (bias) {
            p->b.assign(bias, bias + cols);
            p->shift = dnnl::memory(scale_md, p->eng, p->b.data());
        }
        return p;
    } catch (const dnnl::error &e) {
        // A primitive descriptor that cannot be created for bf16 while fp32 works means oneDNN
        // has no bf16 implementation for this CPU (seen on an AVX2-only Zen 2; the Zen 4 has one).
        *why = std::string("oneDNN: ") + (d == Dtype::F32 ? "" : "no bf16 implementation for this CPU: ") + e.what();
        return nullptr;
    }
}

#else

std::string onednn_status() {
    return "not installed (make bench-peers installs onednn-devel, then rebuild)";
}
std::string onednn_version() { return ""; }
void prepare_onednn() {}
std::unique_ptr<OnednnRmsNorm> make_onednn_norm(Dtype, int64_t, int64_t, const float *, const float *, float,
                                                std::string *why) {
    *why = onednn_status();
    return nullptr;
}

#endif

}  // namespace nfbench
