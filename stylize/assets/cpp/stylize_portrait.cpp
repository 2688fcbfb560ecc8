// stylize_portrait: run a style network exported by `stylize export --format onnx` on one portrait,
// with OpenCV's DNN module on the CPU (what the game's C++ side would do).
//
//   stylize_portrait MODEL.onnx INPUT.png OUTPUT.png [--repeat N] [--threads N]
//   stylize_portrait --bench MODEL.onnx [--repeat N] [--threads N]
//
// The exported graph's contract (stylize/shipping/onnx_export.py): input "input", float32 NCHW, RGB, 0..1,
// height and width multiples of 4 and at least 16 (pad the bottom and right edges by replicating
// the last row/column, crop the output back); output "output", the same layout, RGB 0..1. The
// alpha channel is not an input: it is put back unchanged, as `stylize apply` does.
//
// Only fp32 exports load in OpenCV 4.6; the --fp16 and --int8 exports are for ONNX Runtime.

#include <opencv2/core.hpp>
#include <opencv2/core/utils/logger.hpp>
#include <opencv2/dnn.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <string>
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

// "fp32", "fp16", "int8" from the export's metadata properties ("" when absent). The properties are
// protobuf StringStringEntryProto messages: 0x0a <len> "precision" 0x12 <len> value.
std::string export_precision(const fs::path& model) {
    std::vector<unsigned char> data;
    try {
        data = read_file(model);
    } catch (const Failure&) {
        return "";
    }
    static const std::string key = std::string("\x0a\x09", 2) + "precision" + "\x12";
    auto found = std::search(data.begin(), data.end(), key.begin(), key.end());
    if (found == data.end() || data.end() - found < static_cast<long>(key.size()) + 1) return "";
    auto value = found + static_cast<long>(key.size());
    const std::size_t length = *value++;
    if (length > 16 || static_cast<std::size_t>(data.end() - value) < length) return "";
    return std::string(value, value + static_cast<long>(length));
}

// ---- the model ------------------------------------------------------------------------------------------------

struct Model {
    fs::path path;
    std::string precision;
    cv::dnn::Net net;
};

std::string precision_hint(const std::string& precision) {
    if (precision == "fp16" || precision == "int8")
        return "this is an " + precision + " export, which OpenCV " CV_VERSION
               " does not run; export it again without --fp16/--int8 (fp32), or run it with ONNX Runtime";
    return kExportHint;
}

Model load_model(const fs::path& path) {
    std::error_code ec;
    if (!fs::is_regular_file(path, ec))
        throw Failure(path.string() + ": model not found; " + kExportHint);
    Model model{path, export_precision(path), {}};
    try {
        model.net = cv::dnn::readNetFromONNX(path.string());
    } catch (const cv::Exception& err) {
        throw Failure(path.string() + ": OpenCV " CV_VERSION " cannot load this model (" + cv_reason(err) + "); " +
                      precision_hint(model.precision));
    }
    if (model.net.empty())
        throw Failure(path.string() + ": OpenCV " CV_VERSION " read no network from this file; " + precision_hint(model.precision));
    model.net.setPreferableBackend(cv::dnn::DNN_BACKEND_OPENCV);
    model.net.setPreferableTarget(cv::dnn::DNN_TARGET_CPU);
    return model;
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
        model.net.setInput(blob);
        out = model.net.forward();
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

int stylize_file(const fs::path& model_path, const fs::path& input, const fs::path& output, int repeat, int threads) {
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
              << std::endl;
    return 0;
}

int bench(const fs::path& model_path, int repeat, int threads) {
    Model model = load_model(model_path);
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
    "usage: stylize_portrait MODEL.onnx INPUT.png OUTPUT.png [--repeat N] [--threads N]\n"
    "       stylize_portrait --bench MODEL.onnx [--repeat N] [--threads N]\n"
    "\n"
    "Stylizes INPUT with a style exported by `stylize export --format onnx` (fp32) and writes OUTPUT\n"
    "(PNG, same size, the input's alpha kept unchanged), printing the time per image: the median of\n"
    "--repeat runs (default 1) after one warm-up run. --bench times a random 295x285 portrait and a\n"
    "74x72 thumbnail (default --repeat 5) and prints one JSON line. --threads sets OpenCV's thread\n"
    "count (default 1, the game's budget).\n";

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
            } else if (arg.size() > 1 && arg[0] == '-') {
                throw UsageError("unknown option " + arg);
            } else {
                positional.push_back(arg);
            }
        }
        cv::setNumThreads(threads);
        if (bench_mode) {
            if (positional.size() != 1) throw UsageError("--bench takes one MODEL.onnx");
            return bench(positional[0], repeat < 0 ? 5 : repeat, threads);
        }
        if (positional.size() != 3) throw UsageError("give MODEL.onnx INPUT.png OUTPUT.png");
        return stylize_file(positional[0], positional[1], positional[2], repeat < 0 ? 1 : repeat, threads);
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
