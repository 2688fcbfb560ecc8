// stylize_portrait: run a style network exported by `stylize export --format onnx` on one portrait,
// with OpenCV's DNN module on the CPU (what the game's C++ side would do).
//
//   stylize_portrait MODEL.onnx INPUT.png OUTPUT.png [--style NAME | --mix NAME:W,NAME:W] [--repeat N] [--threads N]
//   stylize_portrait --bench MODEL.onnx [--style NAME | --mix NAME:W,NAME:W] [--repeat N] [--threads N]
//
// The exported graph's contract (stylize/shipping/onnx_export.py): input "input", float32 NCHW, RGB, 0..1,
// height and width multiples of 4 and at least 16 (pad the bottom and right edges by replicating
// the last row/column, crop the output back); output "output", the same layout, RGB 0..1. The
// alpha channel is not an input: it is put back unchanged, as `stylize apply` does.
//
// Only fp32 exports load in OpenCV 4.6; the --fp16 and --int8 exports are for ONNX Runtime.
//
// A default export (metadata property keep_values 1) ends with stylize's value op, which keeps the
// portrait's own light and dark under the style: it is in the graph and needs nothing here (no shape
// arithmetic: it loads with dynamic sizes like the network). It sees the edge padding below as part of
// the portrait, as `stylize apply`'s op does (apply runs it on the same padded frame), so the output is
// apply's to a level at every size, the last rows and columns included (docs/shipping.md).
//
// A zero-training export (metadata property style_input_name) has a second input "style_weights",
// float32 [N], one weight per style in the metadata's style_names; --style and --mix set it at run
// time. Its face guard is not in the graph (it runs in Python only). OpenCV 4.6 runs that graph only
// when its input is declared at the image's size, so the example reads one net per padded size from
// a copy of the file with the size written in (see net_for).

#include <opencv2/core.hpp>
#include <opencv2/core/utils/logger.hpp>
#include <opencv2/dnn.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#ifndef _WIN32
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#endif

namespace fs = std::filesystem;

namespace {

constexpr const char* kProgram = "stylize_portrait";
constexpr int kMultiple = 4;  // the graph's sides must be multiples of this ...
constexpr int kMinSide = 16;  // ... and at least this
constexpr const char* kExportHint = "export the style with: stylize export --style NAME --format onnx --out FILE";

// A user-facing failure: one line, naming the file and the fix.
struct Failure : std::runtime_error {
    using std::runtime_error::runtime_error;
};

struct UsageError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

std::string one_line(std::string text, std::size_t limit = 240) {
    for (char& c : text) {
        if (c == '\n' || c == '\r' || c == '\t') c = ' ';
    }
    std::string squeezed;
    for (char c : text) {
        if (c == ' ' && (squeezed.empty() || squeezed.back() == ' ')) continue;
        squeezed += c;
    }
    while (!squeezed.empty() && squeezed.back() == ' ') squeezed.pop_back();
    if (squeezed.size() > limit) squeezed = squeezed.substr(0, limit - 3) + "...";
    return squeezed;
}

// The message of an OpenCV exception without its source-file prefix.
std::string cv_reason(const cv::Exception& err) {
    std::string reason = err.err.empty() ? std::string(err.what()) : err.err;
    static const std::regex location(R"(OpenCV\([0-9.]+\) \S+:[0-9]+: error: )"), function(R"( in function '[^']*')"),
        quote(R"((^|\n)> )");
    reason = std::regex_replace(reason, location, "");
    reason = std::regex_replace(reason, function, "");
    reason = std::regex_replace(reason, quote, "$1");
    return one_line(reason, 200);
}

// Rows (columns) of edge padding that make a side fit the graph: PaddedNet.forward / padding_for.
int padding_for(int side) {
    const int to_multiple = (kMultiple - side % kMultiple) % kMultiple;
    return std::max(to_multiple, kMinSide - side);
}

std::vector<unsigned char> read_file(const fs::path& path) {
    std::ifstream stream(path, std::ios::binary);
    if (!stream) throw Failure(path.string() + ": cannot open (" + std::strerror(errno) + "); check the path and permissions");
    return std::vector<unsigned char>(std::istreambuf_iterator<char>(stream), std::istreambuf_iterator<char>());
}

// ---- the ONNX file's protobuf ------------------------------------------------------------------------------------
//
// An ONNX file is one protobuf ModelProto. OpenCV does not expose its parser, so the example walks the
// wire format for the few fields it needs: the metadata properties (ModelProto field 14, entries of key 1
// and value 2) and the named dynamic dimensions of the graph's inputs and outputs (ModelProto.graph 7 ->
// GraphProto.input 11 / output 12 -> ValueInfoProto.type 2 -> TypeProto.tensor_type 1 -> shape 2 ->
// dim 1 -> dim_param 2).

using Bytes = std::vector<unsigned char>;

struct Malformed {};  // not a protobuf message: the caller lets OpenCV say why it cannot load the file

struct Field {
    std::uint64_t number = 0;
    int wire = 0;
    std::size_t start = 0;             // offset of the field's tag
    std::size_t begin = 0, end = 0;    // length-delimited payload [begin, end); end is also the field's end
};

bool read_varint(const Bytes& data, std::size_t& pos, std::size_t end, std::uint64_t& value) {
    value = 0;
    for (int shift = 0; shift < 64 && pos < end; shift += 7) {
        const unsigned char byte = data[pos++];
        value |= static_cast<std::uint64_t>(byte & 0x7f) << shift;
        if (!(byte & 0x80)) return true;
    }
    return false;
}

// The length-delimited fields numbered `number` in the message data[begin, end).
std::vector<Field> children(const Bytes& data, std::size_t begin, std::size_t end, std::uint64_t number) {
    std::vector<Field> found;
    std::size_t pos = begin;
    while (pos < end) {
        Field field;
        field.start = pos;
        std::uint64_t tag = 0, value = 0;
        if (!read_varint(data, pos, end, tag)) throw Malformed{};
        field.number = tag >> 3;
        field.wire = static_cast<int>(tag & 7);
        if (field.wire == 0) {
            if (!read_varint(data, pos, end, value)) throw Malformed{};
        } else if (field.wire == 1 || field.wire == 5) {
            const std::size_t size = field.wire == 1 ? 8 : 4;
            if (end - pos < size) throw Malformed{};
            pos += size;
        } else if (field.wire == 2) {
            if (!read_varint(data, pos, end, value) || value > end - pos) throw Malformed{};
            field.begin = pos;
            field.end = pos += static_cast<std::size_t>(value);
            if (field.number == number) found.push_back(field);
        } else {
            throw Malformed{};
        }
    }
    return found;
}

std::string text(const Bytes& data, const Field& field) {
    return std::string(data.begin() + static_cast<long>(field.begin), data.begin() + static_cast<long>(field.end));
}

// The export's metadata properties (empty when the file is not a protobuf message).
std::map<std::string, std::string> metadata_props(const Bytes& data) {
    std::map<std::string, std::string> props;
    try {
        for (const Field& entry : children(data, 0, data.size(), 14)) {
            const auto keys = children(data, entry.begin, entry.end, 1);
            const auto values = children(data, entry.begin, entry.end, 2);
            if (keys.size() == 1 && values.size() == 1) props[text(data, keys[0])] = text(data, values[0]);
        }
    } catch (const Malformed&) {
        return {};
    }
    return props;
}

struct DimParam {
    std::size_t start, end;  // the whole dim_param field: tag, length, name
    std::string name;
};

// The dim_param fields (named dynamic dimensions) of the graph's inputs and outputs.
std::vector<DimParam> dynamic_dims(const Bytes& data) {
    std::vector<DimParam> found;
    for (const Field& graph : children(data, 0, data.size(), 7))
        for (const std::uint64_t list : {11u, 12u})
            for (const Field& value : children(data, graph.begin, graph.end, list))
                for (const Field& type : children(data, value.begin, value.end, 2))
                    for (const Field& tensor : children(data, type.begin, type.end, 1))
                        for (const Field& shape : children(data, tensor.begin, tensor.end, 2))
                            for (const Field& dim : children(data, shape.begin, shape.end, 1))
                                for (const Field& param : children(data, dim.begin, dim.end, 2))
                                    found.push_back({param.start, param.end, text(data, param)});
    return found;
}

std::vector<std::string> split(const std::string& list, char separator) {
    std::vector<std::string> parts;
    std::string part;
    std::istringstream stream(list);
    while (std::getline(stream, part, separator)) parts.push_back(part);
    return parts;
}

// ---- the model ------------------------------------------------------------------------------------------------

constexpr const char* kHeightDim = "height";  // the dynamic sides' names in a zero-training export
constexpr const char* kWidthDim = "width";

struct Model {
    fs::path path;
    std::string precision;
    cv::dnn::Net net;  // a trained style's graph: one net for every size
    // A zero-training export: style_names and the input "style_weights" (one weight per style).
    bool styles = false;
    Bytes bytes;
    std::vector<DimParam> dims;
    std::vector<std::string> style_names;
    std::vector<float> weights;  // this run's: the export's default, --style or --mix
    std::string choice;          // what they are, for the report line
    std::map<std::pair<int, int>, cv::dnn::Net> nets;  // one per padded size (see net_for)
};

std::string precision_hint(const std::string& precision) {
    if (precision == "fp16" || precision == "int8")
        return "this is an " + precision + " export, which OpenCV " CV_VERSION
               " does not run; export it again without --fp16/--int8 (fp32), or run it with ONNX Runtime";
    return kExportHint;
}

cv::dnn::Net read_net(const Model& model, const Bytes& bytes) {
    cv::dnn::Net net;
    try {
        net = cv::dnn::readNetFromONNX(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    } catch (const cv::Exception& err) {
        throw Failure(model.path.string() + ": OpenCV " CV_VERSION " cannot load this model (" + cv_reason(err) + "); " +
                      precision_hint(model.precision));
    }
    if (net.empty())
        throw Failure(model.path.string() + ": OpenCV " CV_VERSION " read no network from this file; " +
                      precision_hint(model.precision));
    net.setPreferableBackend(cv::dnn::DNN_BACKEND_OPENCV);
    net.setPreferableTarget(cv::dnn::DNN_TARGET_CPU);
    return net;
}

// The zero-training graph declared at `size` (padded). OpenCV 4.6 decides each layer's broadcasting
// when it reads the file, from the declared input shape; with the dynamic height and width it sees
// zero-sized sides and refuses the graph (findBroadAxis) or, for a graph without the style input,
// computes NaN. Declared at the image's size it runs it exactly. So the copy in memory has the
// "height" and "width" dim_param fields overwritten, in place, by dim_value fields of the same byte
// length (the varint padded with continuation bytes, which protobuf parsers accept): no enclosing
// length changes. A game with fixed portrait sizes reads one net per size once.
cv::dnn::Net& net_for(Model& model, cv::Size size) {
    const auto key = std::make_pair(size.height, size.width);
    auto found = model.nets.find(key);
    if (found != model.nets.end()) return found->second;
    Bytes declared = model.bytes;
    for (const DimParam& dim : model.dims) {
        const bool height = dim.name == kHeightDim;
        if (!height && dim.name != kWidthDim) continue;
        std::uint64_t value = static_cast<std::uint64_t>(height ? size.height : size.width);
        std::size_t pos = dim.start;
        const std::size_t varint_bytes = dim.end - dim.start - 1;  // checked in load_model: 3 to 10
        declared[pos++] = 0x08;  // field 1 (dim_value), varint
        for (std::size_t i = 0; i < varint_bytes; ++i) {
            declared[pos++] = static_cast<unsigned char>((value & 0x7f) | (i + 1 < varint_bytes ? 0x80 : 0));
            value >>= 7;
        }
    }
    return model.nets.emplace(key, read_net(model, declared)).first->second;
}

Model load_model(const fs::path& path) {
    std::error_code ec;
    if (!fs::is_regular_file(path, ec))
        throw Failure(path.string() + ": model not found; " + kExportHint);
    Model model;
    model.path = path;
    Bytes bytes = read_file(path);
    const auto props = metadata_props(bytes);
    auto prop = [&](const std::string& key) {
        const auto it = props.find(key);
        return it == props.end() ? std::string() : it->second;
    };
    model.precision = prop("precision");
    if (prop("style_input_name").empty()) {  // a trained style: the graph as it is, dynamic sizes and all
        model.net = read_net(model, bytes);
        return model;
    }
    const std::string damaged = path.string() + ": its metadata properties are damaged (";
    const std::string again = "); export it again with: stylize export --style A --style B --out FILE";
    if (prop("style_input_name") != "style_weights" || prop("input_name") != "input")
        throw Failure(damaged + "inputs '" + prop("input_name") + "', '" + prop("style_input_name") + "'" + again);
    model.styles = true;
    model.style_names = split(prop("style_names"), ',');
    for (const std::string& weight : split(prop("default_style_weights"), ',')) {
        char* end = nullptr;
        model.weights.push_back(std::strtof(weight.c_str(), &end));
        if (end == weight.c_str() || *end != '\0') model.weights.clear();
    }
    if (model.style_names.empty() || model.weights.size() != model.style_names.size())
        throw Failure(damaged + "style_names '" + prop("style_names") + "', default_style_weights '" +
                      prop("default_style_weights") + "'" + again);
    try {
        model.dims = dynamic_dims(bytes);
    } catch (const Malformed&) {
        model.dims.clear();
    }
    int sides = 0;
    for (const DimParam& dim : model.dims) {
        if (dim.name != kHeightDim && dim.name != kWidthDim) continue;
        ++sides;
        const std::size_t varint_bytes = dim.end - dim.start - 1;
        if (varint_bytes < 3 || varint_bytes > 10)
            throw Failure(damaged + "dynamic side '" + dim.name + "' cannot be declared in place" + again);
    }
    if (sides != 4)  // height and width of the input and of the output
        throw Failure(damaged + "expected dynamic height and width on input and output" + again);
    model.bytes = std::move(bytes);
    net_for(model, cv::Size(64, 64));  // reads the graph once now, so a bad file fails before any image work
    return model;
}

std::string format_weight(float weight) {
    char text[32];
    std::snprintf(text, sizeof text, "%.2f", static_cast<double>(weight));
    return text;
}

std::string joined(const std::vector<std::string>& names) {
    std::string list;
    for (const std::string& name : names) list += (list.empty() ? "" : ", ") + name;
    return list;
}

std::size_t style_index(const Model& model, const std::string& name) {
    for (std::size_t i = 0; i < model.style_names.size(); ++i)
        if (model.style_names[i] == name) return i;
    throw Failure(model.path.string() + ": no style '" + name + "' in this model; its styles: " + joined(model.style_names));
}

// This run's style weights: --style NAME (that style alone), --mix NAME:W,NAME:W (those weights, the
// other styles 0), else the export's default (equal weights for `stylize export --style A --style B`,
// the mix's weights for `stylize export --mix`). The graph divides the weights by their sum.
void choose_styles(Model& model, const std::string& style, const std::string& mix) {
    if (!model.styles) {
        if (!style.empty() || !mix.empty())
            throw Failure(model.path.string() + ": this export paints one trained style; --style and --mix choose among "
                          "the styles of a zero-training export (stylize export --style A --style B)");
        return;
    }
    std::ostringstream choice;
    if (!style.empty()) {
        std::fill(model.weights.begin(), model.weights.end(), 0.0f);
        model.weights[style_index(model, style)] = 1.0f;
        model.choice = "style " + style;
        return;
    }
    if (mix.empty()) {
        choice << "default mix ";
    } else {
        std::vector<float> weights(model.style_names.size(), 0.0f);
        std::vector<bool> named(weights.size(), false);
        for (const std::string& item : split(mix, ',')) {
            const std::size_t colon = item.rfind(':');
            char* end = nullptr;
            const std::string number = colon == std::string::npos ? "" : item.substr(colon + 1);
            const float weight = std::strtof(number.c_str(), &end);
            if (colon == std::string::npos || colon == 0 || number.empty() || *end != '\0' || !std::isfinite(weight) ||
                weight < 0)
                throw UsageError("--mix " + mix + ": write NAME:WEIGHT,NAME:WEIGHT with weights >= 0 (e.g. " +
                                 model.style_names[0] + ":0.7" +
                                 (model.style_names.size() > 1 ? "," + model.style_names[1] + ":0.3" : "") + ")");
            const std::size_t index = style_index(model, item.substr(0, colon));
            if (named[index]) throw UsageError("--mix " + mix + ": '" + item.substr(0, colon) + "' is named twice");
            named[index] = true;
            weights[index] = weight;
        }
        model.weights = weights;
        choice << "mix ";
    }
    float total = 0;
    for (float weight : model.weights) total += weight;
    if (!(total > 0)) throw UsageError("--mix " + mix + ": the weights are all 0; give at least one a positive weight");
    for (std::size_t i = 0, shown = 0; i < model.weights.size(); ++i) {
        if (model.weights[i] <= 0) continue;
        choice << (shown++ ? "," : "") << model.style_names[i] << ":" << format_weight(model.weights[i] / total);
    }
    model.choice = choice.str();
}

// 8-bit BGR (H, W) -> styled 8-bit BGR (H, W): pad, RGB 0..1 NCHW, forward, crop, round back to 8 bits.
cv::Mat stylize_bgr(Model& model, const cv::Mat& bgr) {
    CV_Assert(bgr.type() == CV_8UC3);
    const int height = bgr.rows, width = bgr.cols;
    cv::Mat padded;
    cv::copyMakeBorder(bgr, padded, 0, padding_for(height), 0, padding_for(width), cv::BORDER_REPLICATE);
    // float32 NCHW, RGB (swapRB), 0..1
    cv::Mat blob = cv::dnn::blobFromImage(padded, 1.0 / 255.0, cv::Size(), cv::Scalar(), true, false, CV_32F);
    cv::Mat out;
    try {
        if (model.styles) {
            cv::dnn::Net& net = net_for(model, padded.size());
            net.setInput(blob, "input");
            net.setInput(cv::Mat(1, static_cast<int>(model.weights.size()), CV_32F, model.weights.data()), "style_weights");
            out = net.forward();
        } else {
            model.net.setInput(blob);
            out = model.net.forward();
        }
    } catch (const cv::Exception& err) {
        throw Failure(model.path.string() + ": OpenCV " CV_VERSION " cannot run this model on a " + std::to_string(padded.cols) +
                      "x" + std::to_string(padded.rows) + " input (" + cv_reason(err) + "); " + precision_hint(model.precision));
    }
    if (out.dims != 4 || out.size[0] != 1 || out.size[1] != 3 || out.size[2] != padded.rows || out.size[3] != padded.cols ||
        out.depth() != CV_32F) {
        std::ostringstream shape;
        for (int i = 0; i < out.dims; ++i) shape << (i ? "x" : "") << out.size[i];
        throw Failure(model.path.string() + ": the model's output is " + shape.str() + ", not 1x3x" +
                      std::to_string(padded.rows) + "x" + std::to_string(padded.cols) +
                      " float RGB; is it a stylize style export? " + kExportHint);
    }
    // Output planes R, G, B -> 8-bit B, G, R. convertTo(CV_8U, 255) is saturate_cast<uchar>(v * 255):
    // clamp to 0..255 and round to nearest (ties to even in the default FP rounding mode), as
    // stylize's to_uint8 does (clamp 0..1, * 255, torch.round).
    const cv::Rect crop(0, 0, width, height);
    std::vector<cv::Mat> channels(3);
    for (int c = 0; c < 3; ++c) {
        cv::Mat plane(padded.rows, padded.cols, CV_32F, out.ptr<float>(0, c));
        plane(crop).convertTo(channels[2 - c], CV_8U, 255.0);
    }
    cv::Mat styled;
    cv::merge(channels, styled);
    return styled;
}

// ---- images ---------------------------------------------------------------------------------------------------

// Sends stderr to /dev/null while alive (POSIX; a no-op elsewhere).
class QuietStderr {
public:
    QuietStderr() {
#ifndef _WIN32
        std::fflush(stderr);
        saved_ = ::dup(2);
        const int null = ::open("/dev/null", O_WRONLY);
        if (saved_ >= 0 && null >= 0) ::dup2(null, 2);
        if (null >= 0) ::close(null);
#endif
    }
    ~QuietStderr() {
#ifndef _WIN32
        std::fflush(stderr);
        if (saved_ >= 0) {
            ::dup2(saved_, 2);
            ::close(saved_);
        }
#endif
    }
    QuietStderr(const QuietStderr&) = delete;
    QuietStderr& operator=(const QuietStderr&) = delete;

private:
    int saved_ = -1;
};

struct Portrait {
    cv::Mat bgr;    // 8-bit, 3 channels
    cv::Mat alpha;  // 8-bit, 1 channel; empty when the file has no alpha
};

// 16-bit samples to 8 bits as stylize's reader (Pillow) does: greyscale v / 257 rounded (ties to
// even), colour and alpha channels their high byte.
cv::Mat to_8bit(const cv::Mat& image) {
    if (image.depth() == CV_8U) return image;
    cv::Mat converted;
    if (image.channels() == 1) {
        image.convertTo(converted, CV_8U, 1.0 / 257.0);
    } else {
        cv::Mat shifted;
        image.convertTo(shifted, CV_16U);  // no-op copy for CV_16U
        converted.create(image.size(), CV_MAKETYPE(CV_8U, image.channels()));
        const int values = image.cols * image.channels();
        for (int y = 0; y < image.rows; ++y) {
            const auto* src = shifted.ptr<unsigned short>(y);
            auto* dst = converted.ptr<unsigned char>(y);
            for (int x = 0; x < values; ++x) dst[x] = static_cast<unsigned char>(src[x] >> 8);
        }
    }
    return converted;
}

const char* depth_name(int depth) {
    switch (depth) {
        case CV_8U: return "8-bit";
        case CV_8S: return "signed 8-bit";
        case CV_16U: return "16-bit";
        case CV_16S: return "signed 16-bit";
        case CV_32S: return "32-bit integer";
        case CV_32F: return "32-bit float";
        case CV_64F: return "64-bit float";
        default: return "unknown";
    }
}

Portrait load_portrait(const fs::path& path) {
    const std::string fix = "re-export it as an 8- or 16-bit PNG (grey, grey+alpha, RGB or RGBA)";
    std::error_code ec;
    if (!fs::is_regular_file(path, ec)) throw Failure(path.string() + ": image not found; check the path");
    const std::vector<unsigned char> data = read_file(path);
    if (data.empty()) throw Failure(path.string() + ": cannot read image (empty file); " + fix);
    cv::Mat image;
    try {
        QuietStderr quiet;  // libpng prints its own "libpng error: ..." line before OpenCV gives up on a bad file
        image = cv::imdecode(data, cv::IMREAD_UNCHANGED);
    } catch (const cv::Exception& err) {
        throw Failure(path.string() + ": cannot read image (" + cv_reason(err) + "); " + fix);
    }
    if (image.empty())
        throw Failure(path.string() + ": cannot read image (truncated, or not a format OpenCV decodes); " + fix);
    const int channels = image.channels();
    if ((image.depth() != CV_8U && image.depth() != CV_16U) || channels < 1 || channels > 4) {
        throw Failure(path.string() + ": unsupported pixels (" + depth_name(image.depth()) + ", " + std::to_string(channels) +
                      " channels); " + fix);
    }
    image = to_8bit(image);
    Portrait portrait;
    std::vector<cv::Mat> planes;
    cv::split(image, planes);
    switch (channels) {
        case 1: cv::merge(std::vector<cv::Mat>{planes[0], planes[0], planes[0]}, portrait.bgr); break;
        case 2:  // grey + alpha
            cv::merge(std::vector<cv::Mat>{planes[0], planes[0], planes[0]}, portrait.bgr);
            portrait.alpha = planes[1];
            break;
        case 3: portrait.bgr = image; break;
        case 4:
            cv::merge(std::vector<cv::Mat>{planes[0], planes[1], planes[2]}, portrait.bgr);
            portrait.alpha = planes[3];
            break;
    }
    return portrait;
}

// Write ``data`` to ``target`` through a temporary file in the same folder and a rename.
void write_atomically(const fs::path& target, const std::vector<unsigned char>& data) {
    const fs::path folder = target.has_parent_path() ? target.parent_path() : fs::path(".");
    std::error_code ec;
    fs::create_directories(folder, ec);
    const std::string write_fix = "; choose a writable output folder with free space";
#ifndef _WIN32
    std::string name = (folder / ("." + target.filename().string() + ".XXXXXX.tmp")).string();
    std::vector<char> buffer(name.begin(), name.end());
    buffer.push_back('\0');
    const int fd = mkstemps(buffer.data(), 4);
    if (fd < 0) throw Failure(target.string() + ": cannot write (" + std::strerror(errno) + ")" + write_fix);
    const std::string temp(buffer.data());
    const mode_t mask = umask(022);
    umask(mask);
    fchmod(fd, 0666 & ~mask);  // like a file opened normally, not mkstemp's 0600
    std::size_t written = 0;
    bool ok = true;
    while (ok && written < data.size()) {
        const ssize_t n = ::write(fd, data.data() + written, data.size() - written);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) ok = false;
        else written += static_cast<std::size_t>(n);
    }
    ok = ok && ::fsync(fd) == 0;
    const int saved = errno;
    ok = (::close(fd) == 0) && ok;
    if (!ok || std::rename(temp.c_str(), target.c_str()) != 0) {
        const int error = ok ? errno : saved;
        ::unlink(temp.c_str());
        throw Failure(target.string() + ": cannot write (" + std::strerror(error) + ")" + write_fix);
    }
#else
    const fs::path temp = folder / ("." + target.filename().string() + ".tmp");
    {
        std::ofstream stream(temp, std::ios::binary | std::ios::trunc);
        stream.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
        if (!stream) throw Failure(target.string() + ": cannot write" + write_fix);
    }
    fs::rename(temp, target, ec);
    if (ec) {
        fs::remove(temp, ec);
        throw Failure(target.string() + ": cannot write (" + ec.message() + ")" + write_fix);
    }
#endif
}

// ---- timing ---------------------------------------------------------------------------------------------------

template <typename F>
double median_ms(F&& work, int repeat) {
    work();  // warm-up: the first forward allocates and picks kernels
    std::vector<double> times;
    for (int i = 0; i < repeat; ++i) {
        const auto begin = std::chrono::steady_clock::now();
        work();
        times.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - begin).count());
    }
    std::sort(times.begin(), times.end());
    const std::size_t n = times.size();
    return n % 2 ? times[n / 2] : (times[n / 2 - 1] + times[n / 2]) / 2.0;
}

std::string format_ms(double ms) {
    char text[32];
    std::snprintf(text, sizeof text, "%.3f", ms);
    return text;
}

// ---- commands -------------------------------------------------------------------------------------------------

struct StyleChoice {
    std::string style, mix;  // --style NAME, --mix NAME:W,NAME:W ("" when not given)
};

int stylize_file(const fs::path& model_path, const fs::path& input, const fs::path& output, const StyleChoice& choice,
                 int repeat, int threads) {
    std::error_code ec, ec_in, ec_out;
    const fs::path input_real = fs::weakly_canonical(input, ec_in), output_real = fs::weakly_canonical(output, ec_out);
    bool same = !ec_in && !ec_out && input_real == output_real;
    if (!same && fs::exists(input, ec) && fs::exists(output, ec)) same = fs::equivalent(input, output, ec) && !ec;  // hard links
    if (same) throw Failure(output.string() + ": is the input file; choose another OUTPUT (the input is never overwritten)");
    std::string suffix = output.extension().string();
    std::transform(suffix.begin(), suffix.end(), suffix.begin(), [](unsigned char c) { return std::tolower(c); });
    if (suffix != ".png") throw Failure(output.string() + ": give an output file ending in .png");
    if (fs::is_directory(output, ec)) throw Failure(output.string() + ": is a folder; give a file name ending in .png");

    Portrait portrait = load_portrait(input);
    Model model = load_model(model_path);
    choose_styles(model, choice.style, choice.mix);
    cv::Mat styled;
    const double ms = median_ms([&] { styled = stylize_bgr(model, portrait.bgr); }, repeat);

    cv::Mat result = styled;
    if (!portrait.alpha.empty()) {
        std::vector<cv::Mat> planes;
        cv::split(styled, planes);
        planes.push_back(portrait.alpha);
        cv::merge(planes, result);
    }
    std::vector<unsigned char> png;
    if (!cv::imencode(".png", result, png, {cv::IMWRITE_PNG_COMPRESSION, 3}))
        throw Failure(output.string() + ": OpenCV could not encode the PNG; report this with the input file");
    write_atomically(output, png);
    std::cout << output.string() << ": " << result.cols << "x" << result.rows << (portrait.alpha.empty() ? " RGB" : " RGBA")
              << ", " << format_ms(ms) << " ms per image (median of " << repeat << " run" << (repeat == 1 ? "" : "s")
              << " after 1 warm-up, " << threads << " thread" << (threads == 1 ? "" : "s") << ", OpenCV " CV_VERSION ")"
              << (model.choice.empty() ? "" : "; " + model.choice) << std::endl;
    return 0;
}

int bench(const fs::path& model_path, const StyleChoice& choice, int repeat, int threads) {
    Model model = load_model(model_path);
    choose_styles(model, choice.style, choice.mix);
    cv::RNG rng(0);
    auto random_image = [&](int width, int height) {
        cv::Mat image(height, width, CV_8UC3);
        rng.fill(image, cv::RNG::UNIFORM, 0, 256);
        return image;
    };
    const cv::Mat portrait = random_image(295, 285), thumbnail = random_image(74, 72);
    const double portrait_ms = median_ms([&] { stylize_bgr(model, portrait); }, repeat);
    const double thumbnail_ms = median_ms([&] { stylize_bgr(model, thumbnail); }, repeat);
    std::cout << "{\"opencv\":\"" CV_VERSION "\",\"backend\":\"opencv-cpu\",\"threads\":" << threads << ",\"repeat\":" << repeat
              << ",\"precision\":\"" << (model.precision.empty() ? "unknown" : model.precision) << "\""
              << ",\"portrait\":[295,285],\"thumbnail\":[74,72],\"portrait_ms\":" << format_ms(portrait_ms)
              << ",\"thumbnail_ms\":" << format_ms(thumbnail_ms) << "}" << std::endl;
    return 0;
}

const char* kUsage =
    "usage: stylize_portrait MODEL.onnx INPUT.png OUTPUT.png [--style NAME | --mix NAME:W,NAME:W] [--repeat N]\n"
    "                        [--threads N]\n"
    "       stylize_portrait --bench MODEL.onnx [--style NAME | --mix NAME:W,NAME:W] [--repeat N] [--threads N]\n"
    "\n"
    "Stylizes INPUT with a style exported by `stylize export --format onnx` (fp32) and writes OUTPUT\n"
    "(PNG, same size, the input's alpha kept unchanged), printing the time per image: the median of\n"
    "--repeat runs (default 1) after one warm-up run. --bench times a random 295x285 portrait and a\n"
    "74x72 thumbnail (default --repeat 5) and prints one JSON line. --threads sets OpenCV's thread\n"
    "count (default 1, the game's budget).\n"
    "\n"
    "A zero-training export (`stylize export --style A --style B` or `--mix A:0.7,B:0.3`) holds several\n"
    "styles: --style NAME paints with one of them, --mix NAME:W,NAME:W with a mix (weights >= 0, divided\n"
    "by their sum; styles not named weigh 0); without either, the export's default mix (equal weights,\n"
    "or the --mix it was made with). The names are in the model's metadata (style_names).\n";

int parse_count(const std::string& option, const char* value) {
    if (value == nullptr) throw UsageError(option + " needs a number");
    char* end = nullptr;
    errno = 0;
    const long number = std::strtol(value, &end, 10);
    if (errno != 0 || end == value || *end != '\0' || number < 1 || number > 100000)
        throw UsageError(option + " " + value + " is not allowed; give a whole number from 1 to 100000");
    return static_cast<int>(number);
}

}  // namespace

int main(int argc, char** argv) {
    if (std::getenv("OPENCV_LOG_LEVEL") == nullptr)  // the importer's own log lines would break the one-line errors
        cv::utils::logging::setLogLevel(cv::utils::logging::LOG_LEVEL_SILENT);
    try {
        std::vector<std::string> positional;
        bool bench_mode = false;
        int repeat = -1, threads = 1;
        StyleChoice choice;
        auto text_value = [&](const std::string& option, int& i) {
            if (i + 1 >= argc || argv[i + 1][0] == '\0') throw UsageError(option + " needs a value");
            return std::string(argv[++i]);
        };
        for (int i = 1; i < argc; ++i) {
            const std::string arg = argv[i];
            if (arg == "-h" || arg == "--help") {
                std::cout << kUsage;
                return 0;
            } else if (arg == "--bench") {
                bench_mode = true;
            } else if (arg == "--repeat") {
                repeat = parse_count(arg, i + 1 < argc ? argv[++i] : nullptr);
            } else if (arg == "--threads") {
                threads = parse_count(arg, i + 1 < argc ? argv[++i] : nullptr);
            } else if (arg == "--style") {
                choice.style = text_value(arg, i);
            } else if (arg == "--mix") {
                choice.mix = text_value(arg, i);
            } else if (arg.size() > 1 && arg[0] == '-') {
                throw UsageError("unknown option " + arg);
            } else {
                positional.push_back(arg);
            }
        }
        if (!choice.style.empty() && !choice.mix.empty()) throw UsageError("--style and --mix exclude each other");
        cv::setNumThreads(threads);
        if (bench_mode) {
            if (positional.size() != 1) throw UsageError("--bench takes one MODEL.onnx");
            return bench(positional[0], choice, repeat < 0 ? 5 : repeat, threads);
        }
        if (positional.size() != 3) throw UsageError("give MODEL.onnx INPUT.png OUTPUT.png");
        return stylize_file(positional[0], positional[1], positional[2], choice, repeat < 0 ? 1 : repeat, threads);
    } catch (const UsageError& err) {
        std::cerr << kProgram << ": error: " << err.what() << "; see " << kProgram << " --help" << std::endl;
        return 2;
    } catch (const Failure& err) {
        std::cerr << kProgram << ": error: " << one_line(err.what(), 600) << std::endl;
        return 1;
    } catch (const cv::Exception& err) {
        std::cerr << kProgram << ": error: OpenCV: " << cv_reason(err) << "; report this with the model and image" << std::endl;
        return 1;
    } catch (const std::exception& err) {
        std::cerr << kProgram << ": error: " << one_line(err.what()) << std::endl;
        return 1;
    }
}
