// TensorFlow op `CellbenchKernel`: calls one of the kernels' entry points (entry_points.h) on TF
// tensors, for TF's `cpp` implementation (cells/tf/cpp.py). It replaced a tf.numpy_function,
// which cost about 0.6 ms a call on top of the kernel (a trip through Python, the GIL and numpy
// wrappers), a third of what the whole CfC forward pass takes in torch.
//
// One generic op serves every entry point; its attributes say how to call it:
//   entry           the entry point's name without prefix and suffix ("cfc_forward")
//   T               float or double (the _f32 / _f64 symbol)
//   sizes           its integer arguments in order, each a literal ("64") or a dimension of an
//                   operand ("@0.1": dimension 1 of operand 0)
//   pointers        its array arguments in order: "i3" operand 3, "o1" output 1, "null"
//   output_shapes   one per output, comma-separated items as in `sizes` ("@0.0,@0.1,64")
//   threads         the kernels' thread count
// Outputs are allocated by TF, uninitialised (every entry point writes all of its outputs). The
// op checks the call's form (names, counts, sizes it can read), not that the operands' shapes
// match the sizes: its caller, cells/tf/cpp.py, derives both from one spec.
// Outputs, and operands that TF computed, are 64-byte aligned, as the kernels run fastest
// (cells/cpp/kernels.py: ALIGNMENT): TF's CPU allocator aligns its buffers to 64 bytes
// (EIGEN_MAX_ALIGN_BYTES). An operand that is not (a tensor over an unaligned numpy array) is
// read as it is: the kernels load unaligned vectors.

#include <cstdint>
#include <functional>
#include <map>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "entry_points.h"
#include "tensorflow/core/framework/op.h"
#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/framework/shape_inference.h"

namespace {

using tensorflow::OpKernel;
using tensorflow::OpKernelConstruction;
using tensorflow::OpKernelContext;
using tensorflow::Status;
using tensorflow::errors::InvalidArgument;

// An entry point called from arrays of its integer and pointer arguments, in their order.
struct Entry {
    int sizes, pointers;
    std::function<void(const int64_t* s, void* const* p, int threads)> call;
};

template <typename T>
T* at(void* const* p, int i) {
    return static_cast<T*>(p[i]);
}

template <typename T, auto cfc_forward, auto cfc_backward, auto synapses_forward,
          auto synapses_backward, auto ltc_forward, auto ltc_backward>
std::map<std::string, Entry> entries() {
    using V = void* const*;
    return {
        {"cfc_forward", {7, 11, [](const int64_t* s, V p, int threads) {
             cfc_forward(s[0], s[1], s[2], s[3], s[4], s[5], at<T>(p, 0), at<T>(p, 1),
                         at<T>(p, 2), at<T>(p, 3), at<T>(p, 4), at<T>(p, 5), at<T>(p, 6),
                         at<T>(p, 7), static_cast<int>(s[6]), at<T>(p, 8), at<T>(p, 9),
                         at<T>(p, 10), threads);
         }}},
        {"cfc_backward", {5, 8, [](const int64_t* s, V p, int threads) {
             cfc_backward(s[0], s[1], s[2], s[3], s[4], at<T>(p, 0), at<T>(p, 1), at<T>(p, 2),
                          at<T>(p, 3), at<T>(p, 4), at<T>(p, 5), at<T>(p, 6), at<T>(p, 7),
                          threads);
         }}},
        {"synapses_forward", {3, 7, [](const int64_t* s, V p, int threads) {
             synapses_forward(s[0], s[1], s[2], at<T>(p, 0), at<T>(p, 1), at<T>(p, 2),
                              at<T>(p, 3), at<T>(p, 4), at<T>(p, 5), at<T>(p, 6), threads);
         }}},
        {"synapses_backward", {3, 12, [](const int64_t* s, V p, int threads) {
             synapses_backward(s[0], s[1], s[2], at<T>(p, 0), at<T>(p, 1), at<T>(p, 2),
                               at<T>(p, 3), at<T>(p, 4), at<T>(p, 5), at<T>(p, 6), at<T>(p, 7),
                               at<T>(p, 8), at<T>(p, 9), at<T>(p, 10), at<T>(p, 11), threads);
         }}},
        {"ltc_forward", {4, 11, [](const int64_t* s, V p, int threads) {
             ltc_forward(s[0], s[1], s[2], s[3], at<T>(p, 0), at<T>(p, 1), at<T>(p, 2),
                         at<T>(p, 3), at<T>(p, 4), at<T>(p, 5), at<T>(p, 6), at<T>(p, 7),
                         at<T>(p, 8), at<T>(p, 9), at<T>(p, 10), threads);
         }}},
        {"ltc_backward", {4, 20, [](const int64_t* s, V p, int threads) {
             ltc_backward(s[0], s[1], s[2], s[3], at<T>(p, 0), at<T>(p, 1), at<T>(p, 2),
                          at<T>(p, 3), at<T>(p, 4), at<T>(p, 5), at<T>(p, 6), at<T>(p, 7),
                          at<T>(p, 8), at<T>(p, 9), at<T>(p, 10), at<T>(p, 11), at<T>(p, 12),
                          at<T>(p, 13), at<T>(p, 14), at<T>(p, 15), at<T>(p, 16),
                          at<T>(p, 17), at<T>(p, 18), at<T>(p, 19), threads);
         }}},
    };
}

const std::map<std::string, Entry>& entries_for(tensorflow::DataType dtype) {
    static const auto f32 = entries<float, cb_cfc_forward_f32, cb_cfc_backward_f32,
                                    cb_synapses_forward_f32, cb_synapses_backward_f32,
                                    cb_ltc_forward_f32, cb_ltc_backward_f32>();
    static const auto f64 = entries<double, cb_cfc_forward_f64, cb_cfc_backward_f64,
                                    cb_synapses_forward_f64, cb_synapses_backward_f64,
                                    cb_ltc_forward_f64, cb_ltc_backward_f64>();
    return dtype == tensorflow::DT_FLOAT ? f32 : f64;
}

// One integer argument or shape item: a literal, or dimension `dim` of operand `operand`.
struct Size {
    int64_t literal = 0;
    int operand = -1, dim = 0;
};

Status parse_size(const std::string& text, Size* size) {
    try {
        if (!text.empty() && text[0] == '@') {
            const auto dot = text.find('.');
            if (dot == std::string::npos) throw std::invalid_argument(text);
            size_t used_operand = 0, used_dim = 0;
            size->operand = std::stoi(text.substr(1, dot - 1), &used_operand);
            size->dim = std::stoi(text.substr(dot + 1), &used_dim);
            if (used_operand != dot - 1 || used_dim != text.size() - dot - 1 ||
                size->operand < 0 || size->dim < 0)
                throw std::invalid_argument(text);
        } else {
            size_t used = 0;
            size->literal = std::stoll(text, &used);
            if (used != text.size()) throw std::invalid_argument(text);
        }
    } catch (const std::exception&) {
        return InvalidArgument("CellbenchKernel: a size is a literal or '@operand.dim', got '",
                               text, "'");
    }
    return Status();
}

// One pointer argument: "iN" operand N, "oN" output N, or "null" -> (kind 'i', 'o' or 'n', N).
Status parse_pointer(const std::string& text, std::pair<char, int>* pointer) {
    if (text == "null") return Status();
    try {
        size_t used = 0;
        if (text.size() > 1 && (text[0] == 'i' || text[0] == 'o')) {
            *pointer = {text[0], std::stoi(text.substr(1), &used)};
            if (used == text.size() - 1 && pointer->second >= 0) return Status();
        }
    } catch (const std::exception&) {
    }
    return InvalidArgument("CellbenchKernel: a pointer is iN, oN or null, got '", text, "'");
}

std::vector<std::string> split(const std::string& text, char separator) {
    std::vector<std::string> items;
    size_t start = 0;
    for (size_t end; (end = text.find(separator, start)) != std::string::npos; start = end + 1)
        items.push_back(text.substr(start, end - start));
    items.push_back(text.substr(start));
    return items;
}

class CellbenchKernel : public OpKernel {
   public:
    explicit CellbenchKernel(OpKernelConstruction* context) : OpKernel(context) {
        std::string name;
        std::vector<std::string> sizes, pointers, shapes;
        tensorflow::DataType dtype;
        OP_REQUIRES_OK(context, context->GetAttr("entry", &name));
        OP_REQUIRES_OK(context, context->GetAttr("T", &dtype));
        OP_REQUIRES_OK(context, context->GetAttr("sizes", &sizes));
        OP_REQUIRES_OK(context, context->GetAttr("pointers", &pointers));
        OP_REQUIRES_OK(context, context->GetAttr("output_shapes", &shapes));
        OP_REQUIRES_OK(context, context->GetAttr("threads", &threads_));
        const auto& table = entries_for(dtype);
        const auto found = table.find(name);
        OP_REQUIRES(context, found != table.end(),
                    InvalidArgument("CellbenchKernel: no entry point '", name, "'"));
        entry_ = &found->second;
        OP_REQUIRES(context,
                    static_cast<int>(sizes.size()) == entry_->sizes &&
                        static_cast<int>(pointers.size()) == entry_->pointers,
                    InvalidArgument("CellbenchKernel: ", name, " takes ", entry_->sizes,
                                    " sizes and ", entry_->pointers, " pointers, got ",
                                    sizes.size(), " and ", pointers.size()));
        sizes_.resize(sizes.size());
        for (size_t i = 0; i < sizes.size(); ++i)
            OP_REQUIRES_OK(context, parse_size(sizes[i], &sizes_[i]));
        for (const auto& pointer : pointers) {
            pointers_.emplace_back('n', 0);
            OP_REQUIRES_OK(context, parse_pointer(pointer, &pointers_.back()));
        }
        OP_REQUIRES(context, static_cast<int>(shapes.size()) == num_outputs(),
                    InvalidArgument("CellbenchKernel: ", num_outputs(), " outputs but ",
                                    shapes.size(), " output_shapes"));
        for (const auto& shape : shapes) {
            std::vector<Size> items;
            for (const auto& item : split(shape, ',')) {
                items.emplace_back();
                OP_REQUIRES_OK(context, parse_size(item, &items.back()));
            }
            shapes_.push_back(std::move(items));
        }
    }

    void Compute(OpKernelContext* context) override {
        std::vector<void*> addresses;
        for (const auto& [kind, index] : pointers_) {
            if (kind == 'n') {
                addresses.push_back(nullptr);
            } else if (kind == 'i') {
                OP_REQUIRES(context, index < context->num_inputs(),
                            InvalidArgument("CellbenchKernel: no operand ", index));
                const auto data = context->input(index).tensor_data();
                addresses.push_back(const_cast<char*>(data.data()));
            } else {
                OP_REQUIRES(context, index < static_cast<int>(shapes_.size()),
                            InvalidArgument("CellbenchKernel: no output ", index));
                tensorflow::TensorShape shape;
                for (const auto& item : shapes_[index]) {
                    int64_t dim;
                    OP_REQUIRES_OK(context, value(context, item, &dim));
                    OP_REQUIRES_OK(context, shape.AddDimWithStatus(dim));
                }
                tensorflow::Tensor* output = nullptr;
                OP_REQUIRES_OK(context, context->allocate_output(index, shape, &output));
                addresses.push_back(const_cast<char*>(output->tensor_data().data()));
            }
        }
        std::vector<int64_t> sizes(sizes_.size());
        for (size_t i = 0; i < sizes_.size(); ++i)
            OP_REQUIRES_OK(context, value(context, sizes_[i], &sizes[i]));
        entry_->call(sizes.data(), addresses.data(), threads_);
    }

   private:
    static Status value(OpKernelContext* context, const Size& size, int64_t* out) {
        if (size.operand < 0) {
            *out = size.literal;
            return Status();
        }
        if (size.operand >= context->num_inputs() ||
            size.dim >= context->input(size.operand).dims())
            return InvalidArgument("CellbenchKernel: operand ", size.operand, " has no dimension ",
                                   size.dim);
        *out = context->input(size.operand).dim_size(size.dim);
        return Status();
    }

    const Entry* entry_ = nullptr;
    std::vector<Size> sizes_;
    std::vector<std::pair<char, int>> pointers_;
    std::vector<std::vector<Size>> shapes_;
    int threads_ = 1;
};

}  // namespace

REGISTER_OP("CellbenchKernel")
    .Input("operands: N * T")
    .Output("results: num_outputs * T")
    .Attr("N: int >= 1")
    .Attr("num_outputs: int >= 1")
    .Attr("T: {float, double}")
    .Attr("entry: string")
    .Attr("sizes: list(string)")
    .Attr("pointers: list(string)")
    .Attr("output_shapes: list(string)")
    .Attr("threads: int >= 1")
    .SetShapeFn([](tensorflow::shape_inference::InferenceContext* c) {
        std::vector<std::string> shapes;
        TF_RETURN_IF_ERROR(c->GetAttr("output_shapes", &shapes));
        for (size_t i = 0; i < shapes.size(); ++i) {
            std::vector<tensorflow::shape_inference::DimensionHandle> dims;
            for (const auto& item : split(shapes[i], ',')) {
                Size size;
                TF_RETURN_IF_ERROR(parse_size(item, &size));
                if (size.operand < 0) {
                    dims.push_back(c->MakeDim(size.literal));
                } else {
                    const auto operand = c->input(size.operand);
                    dims.push_back(c->RankKnown(operand) ? c->Dim(operand, size.dim)
                                                         : c->UnknownDim());
                }
            }
            c->set_output(static_cast<int>(i), c->MakeShape(dims));
        }
        return Status();
    });

REGISTER_KERNEL_BUILDER(
    Name("CellbenchKernel").Device(tensorflow::DEVICE_CPU).TypeConstraint<float>("T"),
    CellbenchKernel);
REGISTER_KERNEL_BUILDER(
    Name("CellbenchKernel").Device(tensorflow::DEVICE_CPU).TypeConstraint<double>("T"),
    CellbenchKernel);
