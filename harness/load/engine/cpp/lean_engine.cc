// The compiled lean engine: the protocol of harness/load/engine/protocol.py (as the Python engine, aio_engine.py), on
// gRPC C++'s completion queue, or (a config with "protocol": "http") on libcurl's multi interface: KServe v2 HTTP/REST.
//
// Why: grpc.aio costs more client CPU per request than perf_analyzer; this engine costs less than either
// (scripts/bench_load_generator.py measures all three; the README quotes the figures). Requests go out as the pre-serialized
// ModelInferRequest bytes through a generic stub (no protobuf library here); replies are not parsed (Triton reports
// failures in the status) unless the config asks for them to be checked ("expect": a minimal wire reader below).
//
// Spoken to over stdin/stdout in frames: a 4-byte big-endian length, then a msgpack map. The protocol (the frame,
// the commands, the results frame) is defined in harness/load/engine/protocol.py, which both Python sides use;
// a change there is a change here. A config carries the requests to cycle through ("payloads", or one "payload"):
// every send, lane or schedule, takes the next one. One thread runs the completion queue, the lanes, the open-loop
// schedules and the flushes; another reads commands and wakes it with an alarm; a third wakes it the same way
// when the next open-loop send is due.
//
// Over HTTP the config's bodies (the binary-tensor extension: a JSON header, then the raw tensors, its length in
// "header_lengths") are POSTed to "path" on keep-alive HTTP/1.1 connections: one easy handle per request in flight,
// kept and reused, and libcurl's connection pool under them; one thread runs the multi handle, the lanes and the
// flushes (the completion queue is left as it is), and the reader and sender threads wake it with
// curl_multi_wakeup. A reply is a success when its status is 200; it is not parsed.
//
//   lean_engine                                  serve the protocol
//   lean_engine --schedule RPS KIND SEED COUNT [PHASE [INDEX SENDERS]]   print a schedule's first intended send
//                                                                         times (seconds; a trace's gaps on stdin)

#include <curl/curl.h>
#include <grpcpp/alarm.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#define MSGPACK_NO_BOOST
#include <msgpack.hpp>

#include <pthread.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <deque>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <queue>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

namespace {

const char* const kMethod = "/inference.GRPCInferenceService/ModelInfer";
// Results go to the Locust process every 5 ms: it fires one request event per result, and on a small machine its
// burst of CPU delays whichever request is in flight on the core it takes. Short frames keep that burst, and the
// delay, short (one user on 2 cores: harness p99 0.89 ms at 20 ms frames, 0.77 ms at 5 ms; perf_analyzer 0.82 ms;
// scripts/bench_load_generator.py --tables jitter). An empty frame is never sent.
constexpr double kFlushS = 0.005;
constexpr double kLateS = 0.002;  // a send this far behind its intended time counts as late
constexpr int kSendsPerTurn = 64;  // when behind schedule, completions are handled between bursts
constexpr int kRealTimeSendsPerTurn = 16;  // a sender at real-time priority pauses more often (SendOnSchedule)
// A lane whose request found no server (UNAVAILABLE) waits before sending again, doubling between these.
constexpr double kBackoffMinS = 0.01, kBackoffMaxS = 0.5;
constexpr double kQuitGraceS = 3.0;  // the longest an exit waits for the requests in flight (at most the timeout)

using Clock = std::chrono::steady_clock;
const Clock::time_point kOrigin = Clock::now();

double Now() { return std::chrono::duration<double>(Clock::now() - kOrigin).count(); }

double WallNow() {  // wall-clock seconds: what send times are reported in, comparable across processes
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

gpr_timespec At(double seconds) {
  int64_t nanos = static_cast<int64_t>(std::max(seconds - Now(), 0.0) * 1e9);
  return gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_nanos(nanos, GPR_TIMESPAN));
}

// Asks the kernel's EEVDF scheduler (Linux 6.12 and later) for a short time slice for the calling thread, which
// lets it preempt a busy core as soon as it wakes instead of waiting up to a slice of whatever runs there; no
// privilege is needed and its CPU share is unchanged. Older kernels ignore the request.
void AskShortSlice() {
  struct {
    uint32_t size, policy;
    uint64_t flags;
    int32_t nice;
    uint32_t priority;
    uint64_t runtime, deadline, period;
  } attr{};
  attr.size = sizeof(attr);
  attr.policy = SCHED_OTHER;
  attr.runtime = 100000;  // ns: the shortest slice the kernel grants
  syscall(SYS_sched_setattr, 0, &attr, 0U);
}

// Asks for the lowest real-time priority (SCHED_FIFO 1) for the calling thread: it then runs as soon as its timer
// fires, ahead of every ordinary thread on the core (a busy tritonserver on the same machine included), instead of
// waiting for the scheduler to preempt one. Where the server and the Locust processes share the cores, that keeps
// the schedule (send lag p99 15 us against 200-850 at 2,000 req/s on the 2-core machine here, arrivals CV 0.02
// against 0.1-0.4) for ~10 us more CPU per request (scripts/bench_load_generator.py --tables open,
// scripts/bench_engine_wakeups.py, docs/benchmarks.md). HARNESS_SENDER_POLICY=normal keeps the ordinary policy.
// Needs root or CAP_SYS_NICE; false when refused (the thread then asks for a short slice instead).
bool AskRealTime() {
  sched_param param{};
  param.sched_priority = 1;
  return pthread_setschedparam(pthread_self(), SCHED_FIFO, &param) == 0;
}

double ProcessCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

// CPython's Mersenne Twister seeded as random.Random(int) seeds it, and its random() and expovariate():
// the same seed gives the same schedule as the Python engine (harness/load/arrivals.py).
class PyRandom {
 public:
  explicit PyRandom(uint64_t seed) {
    std::vector<uint32_t> key;
    do {
      key.push_back(static_cast<uint32_t>(seed & 0xffffffffu));
      seed >>= 32;
    } while (seed);
    InitByArray(key);
  }

  double Random() {
    uint32_t a = Next() >> 5, b = Next() >> 6;
    return (a * 67108864.0 + b) * (1.0 / 9007199254740992.0);
  }

  double Expovariate(double lambda) { return -std::log(1.0 - Random()) / lambda; }

  // CPython 3.11's random.gammavariate(alpha, beta), step for step (the same draws give the same value).
  double Gammavariate(double alpha, double beta) {
    if (alpha > 1.0) {  // R.C.H. Cheng (1977)
      const double log4 = std::log(4.0), sg_magic = 1.0 + std::log(4.5);
      double ainv = std::sqrt(2.0 * alpha - 1.0), bbb = alpha - log4, ccc = alpha + ainv;
      while (true) {
        double u1 = Random();
        if (!(1e-7 < u1 && u1 < 0.9999999)) continue;
        double u2 = 1.0 - Random();
        double v = std::log(u1 / (1.0 - u1)) / ainv, x = alpha * std::exp(v);
        double z = u1 * u1 * u2, r = bbb + ccc * v - x;
        if (r + sg_magic - 4.5 * z >= 0.0 || r >= std::log(z)) return x * beta;
      }
    }
    if (alpha == 1.0) return -std::log(1.0 - Random()) * beta;
    while (true) {  // 0 < alpha < 1: algorithm GS (Kennedy & Gentle)
      double u = Random(), b = (M_E + alpha) / M_E, p = b * u;
      double x = p <= 1.0 ? std::pow(p, 1.0 / alpha) : -std::log((b - p) / alpha);
      double u1 = Random();
      if (p > 1.0 ? u1 <= std::pow(x, alpha - 1.0) : u1 <= std::exp(-x)) return x * beta;
    }
  }

 private:
  static constexpr int kN = 624, kM = 397;
  uint32_t mt_[kN];
  int index_ = kN + 1;

  void InitGenrand(uint32_t s) {
    mt_[0] = s;
    for (index_ = 1; index_ < kN; index_++)
      mt_[index_] = 1812433253u * (mt_[index_ - 1] ^ (mt_[index_ - 1] >> 30)) + index_;
  }

  void InitByArray(const std::vector<uint32_t>& key) {
    InitGenrand(19650218u);
    size_t i = 1, j = 0;
    for (size_t k = std::max<size_t>(kN, key.size()); k; k--) {
      mt_[i] = (mt_[i] ^ ((mt_[i - 1] ^ (mt_[i - 1] >> 30)) * 1664525u)) + key[j] + static_cast<uint32_t>(j);
      if (++i >= kN) { mt_[0] = mt_[kN - 1]; i = 1; }
      if (++j >= key.size()) j = 0;
    }
    for (size_t k = kN - 1; k; k--) {
      mt_[i] = (mt_[i] ^ ((mt_[i - 1] ^ (mt_[i - 1] >> 30)) * 1566083941u)) - static_cast<uint32_t>(i);
      if (++i >= kN) { mt_[0] = mt_[kN - 1]; i = 1; }
    }
    mt_[0] = 0x80000000u;
  }

  uint32_t Next() {
    static const uint32_t mag01[2] = {0x0u, 0x9908b0dfu};
    if (index_ >= kN) {
      int k = 0;
      for (; k < kN - kM; k++) {
        uint32_t y = (mt_[k] & 0x80000000u) | (mt_[k + 1] & 0x7fffffffu);
        mt_[k] = mt_[k + kM] ^ (y >> 1) ^ mag01[y & 1u];
      }
      for (; k < kN - 1; k++) {
        uint32_t y = (mt_[k] & 0x80000000u) | (mt_[k + 1] & 0x7fffffffu);
        mt_[k] = mt_[k + (kM - kN)] ^ (y >> 1) ^ mag01[y & 1u];
      }
      uint32_t y = (mt_[kN - 1] & 0x80000000u) | (mt_[0] & 0x7fffffffu);
      mt_[kN - 1] = mt_[kM - 1] ^ (y >> 1) ^ mag01[y & 1u];
      index_ = 0;
    }
    uint32_t y = mt_[index_++];
    y ^= (y >> 11);
    y ^= (y << 7) & 0x9d2c5680u;
    y ^= (y << 15) & 0xefc60000u;
    y ^= (y >> 18);
    return y;
  }
};

// An open-loop send schedule: intended send times (seconds on Now()'s clock), from one of these streams:
//   constant, poisson: this sender's own (its share of the level's rate; Poisson gaps from its own seed);
//   gamma:CV, trace: one stream common to every sender of the level (one seed, one trace), of which this sender
//     sends slots index, index + senders, index + 2 senders...: the level's merged sends are that stream however
//     many senders and workers share it (independent bursty streams would merge towards Poisson).
// harness/load/arrivals.py draws the same times, bit for bit.
struct Schedule {
  enum Kind { kConstant, kPoisson, kGamma, kTrace } kind = kConstant;
  double rate = 1.0;  // constant, poisson: this sender's rate; gamma: the whole stream's
  double shape = 1.0;  // gamma: 1 / CV^2
  PyRandom rng;
  std::shared_ptr<const std::vector<double>> trace;  // trace: the stream's gaps (seconds), looped
  int64_t index = 0, senders = 1;  // gamma, trace: this sender's first slot of the common stream, and the stride
  int64_t slot = -1;  // gamma, trace: the common stream's slot `intended` belongs to
  int max_in_flight = 0;
  double intended;
  uint64_t version = 0;  // tells this schedule's entries in the due queue from a replaced one's

  // `start` is the origin (common to all senders); the first send is one gap after it (constant, poisson), or
  // the common stream's slot `index` (gamma, trace).
  Schedule(const std::string& arrivals, double rps, uint64_t seed, int cap, double start, int64_t first,
           int64_t stride, std::shared_ptr<const std::vector<double>> gaps)
      : rate(rps), rng(seed), trace(std::move(gaps)), index(first), senders(std::max<int64_t>(stride, 1)),
        max_in_flight(cap), intended(start) {
    if (arrivals == "poisson") {
      kind = kPoisson;
    } else if (arrivals.rfind("gamma:", 0) == 0) {
      double cv = std::stod(arrivals.substr(6));
      kind = kGamma;
      shape = 1.0 / (cv * cv);
    } else if (arrivals == "trace") {
      kind = kTrace;
      if (!trace || trace->empty()) trace = std::make_shared<const std::vector<double>>(1, 1.0 / rps);
    }
    Advance();
  }

  void SkipTo(double now) {  // slots before this sender existed: skipped, not sent late
    while (intended < now) Advance();
  }

  void Advance() {
    if (kind == kConstant) {
      intended += 1.0 / rate;
    } else if (kind == kPoisson) {
      intended += rng.Expovariate(rate);
    } else {
      int64_t next = slot < 0 ? index : slot + senders;
      for (; slot < next; slot++) intended += CommonGap(slot + 1);
    }
  }

  // The common stream's gap before slot k (drawn in slot order: every sender draws the whole stream).
  double CommonGap(int64_t k) {
    if (kind == kTrace) return (*trace)[static_cast<size_t>(k) % trace->size()];
    return rng.Gammavariate(shape, 1.0 / (rate * shape));
  }
};

const char* StatusName(grpc::StatusCode code) {
  static const char* const names[] = {
      "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND", "ALREADY_EXISTS",
      "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE",
      "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED"};
  int index = static_cast<int>(code);
  return index >= 0 && index < 17 ? names[index] : "UNKNOWN";
}

// An output a response must carry (harness/load/engine/validation.py: the rule and the messages, the same here).
struct Expected {
  std::string name, datatype, data;
  std::vector<int64_t> shape;
  double atol = 0.0, rtol = 0.0;
  bool top1 = false;
};

// What the reader thread hands the engine: a parsed command frame.
struct Command {
  std::string op, url, payload, arrivals, protocol = "grpc", path;
  std::vector<std::string> payloads;
  std::vector<int64_t> header_lengths;  // http: each body's JSON header length (Inference-Header-Content-Length)
  std::vector<std::vector<Expected>> expect;  // per payload; empty: responses are not checked
  double timeout = 30.0, rps = 0.0;
  bool has_start = false;
  double start = 0.0;  // wall-clock seconds of the schedule's origin
  int64_t n = 0, id = 0, seed = 0, max_in_flight = 0, seq = -1, index = 0, senders = 1;
  std::vector<double> gaps;  // "trace": the common stream's gaps, seconds
};

struct Tag {
  enum Kind { kCall, kWake } kind;
};

struct Call : Tag {
  grpc::ClientContext context;
  grpc::ByteBuffer response;
  grpc::Status status;
  std::unique_ptr<grpc::GenericClientAsyncResponseReader> reader;
  double origin = 0.0;  // when its latency starts: the send (closed loop) or the intended send (open loop)
  bool lane = false;
  uint64_t generation = 0;
  size_t entry = 0;  // which payload it carries: the entry whose expected outputs its response must carry
  Call() : Tag{kCall} {}
};

// HTTP: the bodies of one config and each one's headers, shared by the requests carrying them (a later config
// replaces the set while some may still be in flight).
struct HttpBodies {
  std::vector<std::string> bodies;
  std::vector<curl_slist*> headers;
  ~HttpBodies() {
    for (curl_slist* list : headers) curl_slist_free_all(list);
  }
};

// HTTP: one request in flight on its easy handle; the handle (and its connection) is reused by the next request.
struct HttpCall {
  CURL* easy = nullptr;
  std::string response;  // the reply's first bytes: the message of a failure
  std::shared_ptr<const HttpBodies> bodies;
  char error[CURL_ERROR_SIZE] = {0};
  double origin = 0.0;
  bool lane = false;
  uint64_t generation = 0;
  size_t entry = 0;
};

// An HTTP send asked on the sender thread, started on the multi handle's.
struct PendingSend {
  bool lane;
  double origin;
  uint64_t generation;
  size_t entry;
};

size_t KeepResponseHead(char* data, size_t size, size_t count, void* user) {
  auto* response = static_cast<std::string*>(user);
  constexpr size_t kKeep = 2048;
  if (response->size() < kKeep) response->append(data, std::min(size * count, kKeep - response->size()));
  return size * count;
}

struct Wake : Tag {
  grpc::Alarm alarm;
  Wake() : Tag{kWake} {}
};

// A minimal protobuf wire reader for ModelInferResponse: field 5 (outputs: InferOutputTensor, whose field 1 is
// the name) and field 6 (raw_output_contents), in order; everything else is skipped. Only read when checking.
bool ReadVarint(const char*& at, const char* end, uint64_t* value) {
  *value = 0;
  for (int shift = 0; at < end && shift < 64; shift += 7) {
    uint8_t byte = static_cast<uint8_t>(*at++);
    *value |= static_cast<uint64_t>(byte & 0x7f) << shift;
    if (!(byte & 0x80)) return true;
  }
  return false;
}

// Calls fn(field, bytes) for each length-delimited field of a message; false on a malformed one.
template <typename Fn>
bool ForEachBytesField(const char* at, const char* end, Fn fn) {
  while (at < end) {
    uint64_t key = 0, size = 0;
    if (!ReadVarint(at, end, &key)) return false;
    switch (key & 7) {
      case 0: if (!ReadVarint(at, end, &size)) return false; break;
      case 1: at += 8; break;
      case 5: at += 4; break;
      case 2:
        if (!ReadVarint(at, end, &size) || size > static_cast<uint64_t>(end - at)) return false;
        fn(key >> 3, std::string(at, size));
        at += size;
        break;
      default: return false;
    }
  }
  return at == end;
}

bool ParseOutputs(const std::string& response, std::map<std::string, std::string>* outputs) {
  std::vector<std::string> names, contents;
  bool ok = ForEachBytesField(response.data(), response.data() + response.size(), [&](uint64_t field, std::string bytes) {
    if (field == 5) {
      std::string name;
      ForEachBytesField(bytes.data(), bytes.data() + bytes.size(), [&](uint64_t f, std::string v) { if (f == 1) name = v; });
      names.push_back(name);
    } else if (field == 6) {
      contents.push_back(std::move(bytes));
    }
  });
  for (size_t i = 0; i < names.size() && i < contents.size(); i++) (*outputs)[names[i]] = contents[i];
  return ok;
}

std::string Format(double value) {
  char text[64];
  snprintf(text, sizeof text, "%.9g", value);
  return text;
}

template <typename T>
std::vector<double> Values(const std::string& bytes) {
  std::vector<double> values(bytes.size() / sizeof(T));
  for (size_t i = 0; i < values.size(); i++) {
    T value;
    memcpy(&value, bytes.data() + i * sizeof(T), sizeof(T));
    values[i] = static_cast<double>(value);
  }
  return values;
}

// How `got` differs from `want` ("" when it does not), as harness.load.engine.validation.mismatch says it.
std::string Mismatch(const Expected& want, const std::string& got) {
  if (got.size() != want.data.size())
    return std::to_string(got.size()) + " bytes, expected " + std::to_string(want.data.size());
  bool fp32 = want.datatype == "FP32", floating = fp32 || want.datatype == "FP64";
  if (want.top1 && floating && want.shape.size() >= 2 && want.shape.back() >= 2) {
    std::vector<double> a = fp32 ? Values<float>(got) : Values<double>(got);
    std::vector<double> b = fp32 ? Values<float>(want.data) : Values<double>(want.data);
    size_t classes = static_cast<size_t>(want.shape.back());
    for (size_t row = 0; row * classes < a.size(); row++) {
      size_t top_a = 0, top_b = 0;
      for (size_t c = 1; c < classes; c++) {
        if (a[row * classes + c] > a[row * classes + top_a]) top_a = c;
        if (b[row * classes + c] > b[row * classes + top_b]) top_b = c;
      }
      if (top_a != top_b)
        return "top-1 class " + std::to_string(top_a) + " in row " + std::to_string(row) + ", expected " + std::to_string(top_b);
    }
    return "";
  }
  if (got == want.data) return "";
  if (!floating) return "differs from the expected bytes";
  std::vector<double> a = fp32 ? Values<float>(got) : Values<double>(got);
  std::vector<double> b = fp32 ? Values<float>(want.data) : Values<double>(want.data);
  for (size_t i = 0; i < a.size(); i++) {
    if (!(std::fabs(a[i] - b[i]) <= want.atol + want.rtol * std::fabs(b[i])))
      return Format(a[i]) + " at element " + std::to_string(i) + ", expected " + Format(b[i]);
  }
  return "";
}

class Engine {
 public:
  void Run() {
    std::thread(&Engine::ReadCommands, this).detach();
    std::thread(&Engine::SendOnSchedule, this).detach();
    next_flush_ = Now() + kFlushS;
    while (true) {
      void* tag = nullptr;
      bool ok = false;
      auto got = cq_.AsyncNext(&tag, &ok, At(NextDeadline()));
      if (got == grpc::CompletionQueue::SHUTDOWN) return;
      if (got == grpc::CompletionQueue::GOT_EVENT) {
        if (static_cast<Tag*>(tag)->kind == Tag::kCall) {
          Completed(static_cast<Call*>(tag));
        } else {
          delete static_cast<Wake*>(tag);
          if (!RunCommands()) return;
          if (http_mode_.load()) return RunHttp();  // the first config said HTTP: the queue is not used again
        }
      }
      RestartDueLanes();
      if (Now() >= next_flush_) {
        Flush(-1);
        next_flush_ = Now() + kFlushS;
      }
    }
  }

 private:
  // Two threads use this state. The queue's thread (Run) handles completions, commands, lanes and flushes; the
  // sender thread (SendOnSchedule) makes the open-loop sends. send_mutex_ guards what both touch: the schedules,
  // the open-loop results and the settings a send reads (stub, payloads, timeout, generation); the queue's thread
  // changes those only under it, so its own unlocked reads are safe.
  grpc::CompletionQueue cq_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<grpc::GenericStub> stub_;
  std::vector<grpc::ByteBuffer> payloads_;  // the requests, sent in turn (--input-data entries, or one)
  std::vector<std::vector<Expected>> expect_;  // per payload, the outputs its response must carry (may be empty)
  std::atomic<uint64_t> next_payload_{0};
  double timeout_ = 30.0;
  int lanes_target_ = 0, lanes_running_ = 0;
  uint64_t generation_ = 0;
  std::atomic<int> outstanding_{0};  // calls started and not yet completed, any generation
  std::shared_ptr<const std::vector<double>> trace_;  // the "trace" command's gaps, for trace schedules
  std::map<int64_t, Schedule> schedules_;
  // When each schedule sends next, earliest first: the per-request path never walks every open-loop user.
  // Entries of removed or replaced schedules are skipped when they come up (their version no longer matches).
  struct Due {
    double at;
    int64_t id;
    uint64_t version;
    bool operator>(const Due& other) const { return at > other.at; }
  };
  std::priority_queue<Due, std::vector<Due>, std::greater<Due>> due_;
  uint64_t next_version_ = 0;
  std::atomic<int> in_flight_{0};  // open-loop requests of this generation awaiting a reply
  std::vector<uint32_t> latencies_;
  std::vector<std::pair<uint32_t, std::string>> errors_;
  // Open-loop results since the last flush, the sender thread's (under send_mutex_).
  std::vector<double> sent_;  // wall-clock seconds of each send
  std::vector<uint32_t> lags_;  // each send's lag behind its intended time, microseconds
  int64_t late_ = 0, dropped_ = 0;
  double max_lag_ms_ = 0.0, next_flush_ = 0.0;
  std::mutex mutex_;
  std::deque<Command> commands_;
  std::atomic<bool> commands_pending_{false};

  // HTTP (a config with "protocol": "http"; the engine speaks one protocol for its life).
  std::atomic<bool> http_mode_{false};
  std::thread::id loop_thread_ = std::this_thread::get_id();  // Run's (the engine is made on that thread)
  CURLM* multi_ = nullptr;
  std::string http_url_;  // http://host:port/v2/models/NAME/infer
  std::shared_ptr<const HttpBodies> http_bodies_;  // the current config's (under send_mutex_)
  std::vector<HttpCall*> idle_calls_;  // easy handles whose request has finished, kept for the next
  std::mutex pending_mutex_;
  std::vector<PendingSend> pending_;  // sends the sender thread asked for (under pending_mutex_)

  void ConfigureHttp(const Command& command) {
    if (!multi_) {
      multi_ = curl_multi_init();
      curl_multi_setopt(multi_, CURLMOPT_MAXCONNECTS, 100000L);  // every connection kept alive for reuse
      http_mode_ = true;
    }
    http_url_ = "http://" + command.url + command.path;
    auto bodies = std::make_shared<HttpBodies>();
    bodies->bodies = command.payloads.empty() ? std::vector<std::string>{command.payload} : command.payloads;
    for (size_t i = 0; i < bodies->bodies.size(); i++) {
      int64_t json = i < command.header_lengths.size() ? command.header_lengths[i] : -1;
      curl_slist* headers = curl_slist_append(nullptr, "Expect:");  // no 100-continue round trip on big bodies
      headers = curl_slist_append(headers, json >= 0 ? "Content-Type: application/octet-stream"
                                                     : "Content-Type: application/json");
      if (json >= 0)
        headers = curl_slist_append(headers, ("Inference-Header-Content-Length: " + std::to_string(json)).c_str());
      bodies->headers.push_back(headers);
    }
    http_bodies_ = bodies;
    next_payload_ = 0;
    timeout_ = command.timeout;
  }

  // On the multi's thread: the request goes out on an idle easy handle (a new one when all are busy).
  void LaunchHttp(const PendingSend& send) {
    HttpCall* call;
    if (idle_calls_.empty()) {
      call = new HttpCall();
      call->easy = curl_easy_init();
      curl_easy_setopt(call->easy, CURLOPT_NOSIGNAL, 1L);
      curl_easy_setopt(call->easy, CURLOPT_TCP_NODELAY, 1L);
      curl_easy_setopt(call->easy, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_1_1);
      curl_easy_setopt(call->easy, CURLOPT_POST, 1L);
      curl_easy_setopt(call->easy, CURLOPT_WRITEFUNCTION, KeepResponseHead);
      curl_easy_setopt(call->easy, CURLOPT_WRITEDATA, &call->response);
      curl_easy_setopt(call->easy, CURLOPT_ERRORBUFFER, call->error);
      curl_easy_setopt(call->easy, CURLOPT_PRIVATE, call);
    } else {
      call = idle_calls_.back();
      idle_calls_.pop_back();
    }
    call->bodies = http_bodies_;
    call->response.clear();
    call->error[0] = 0;
    call->origin = send.origin;
    call->lane = send.lane;
    call->generation = send.generation;
    call->entry = send.entry;
    const std::string& body = call->bodies->bodies[send.entry];
    curl_easy_setopt(call->easy, CURLOPT_URL, http_url_.c_str());
    curl_easy_setopt(call->easy, CURLOPT_HTTPHEADER, call->bodies->headers[send.entry]);
    curl_easy_setopt(call->easy, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(call->easy, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
    curl_easy_setopt(call->easy, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout_ * 1000));
    curl_multi_add_handle(multi_, call->easy);
  }

  void CompletedHttp(CURL* easy, CURLcode result) {
    HttpCall* call = nullptr;
    curl_easy_getinfo(easy, CURLINFO_PRIVATE, reinterpret_cast<char**>(&call));
    curl_multi_remove_handle(multi_, easy);
    idle_calls_.push_back(call);
    outstanding_--;
    if (call->generation != generation_) return;  // stopped: nothing from before a stop is reported
    long status = 0;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
    bool unavailable = result == CURLE_COULDNT_CONNECT || result == CURLE_COULDNT_RESOLVE_HOST;
    std::string error;
    if (result != CURLE_OK) {
      error = std::string(unavailable ? "UNAVAILABLE: " : result == CURLE_OPERATION_TIMEDOUT ? "DEADLINE_EXCEEDED: " : "HTTP: ") +
              (call->error[0] ? call->error : curl_easy_strerror(result));
    } else if (status != 200) {
      error = "HTTP " + std::to_string(status) + ": " + call->response;
    }
    Finished(call->origin, call->lane, unavailable, error);
  }

  // The HTTP loop: replies, the sender thread's sends, commands, lanes and flushes, then a wait on the sockets
  // until the next deadline or a wake-up.
  void RunHttp() {
    while (true) {
      int running = 0;
      curl_multi_perform(multi_, &running);
      int left = 0;
      while (CURLMsg* message = curl_multi_info_read(multi_, &left)) {
        if (message->msg == CURLMSG_DONE) CompletedHttp(message->easy_handle, message->data.result);
      }
      LaunchPendingHttp();
      if (commands_pending_.exchange(false) && !RunCommands()) return;
      RestartDueLanes();
      if (Now() >= next_flush_) {
        Flush(-1);
        next_flush_ = Now() + kFlushS;
      }
      curl_multi_perform(multi_, &running);  // what was just started goes out before the wait
      int wait_ms = static_cast<int>(std::ceil(std::max(NextDeadline() - Now(), 0.0) * 1000));
      curl_multi_poll(multi_, nullptr, 0, wait_ms, nullptr);
    }
  }

  void LaunchPendingHttp() {
    std::vector<PendingSend> sends;
    {
      std::lock_guard<std::mutex> lock(pending_mutex_);
      sends.swap(pending_);
    }
    for (const PendingSend& send : sends) LaunchHttp(send);
  }

  // Open-loop sends have a thread of their own, which sleeps on the precise clock (timer slack 1 us) until the
  // next one is due and starts it itself: gRPC's async calls may start on any thread, and their completions
  // still come to the queue. Before, a ticker thread woke the queue's thread with an alarm for every send (the
  // queue's own deadline is rounded to whole milliseconds): two thread hops per send cost ~50 us of CPU per
  // request and left sends a p99 of ~1 ms behind schedule at 2,000 req/s (scripts/bench_load_generator.py
  // --tables open, docs/benchmarks.md).
  std::mutex send_mutex_;
  std::condition_variable send_cv_;

  void SendOnSchedule() {
    prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);  // this thread's timed waits end within a microsecond
    const char* policy = std::getenv("HARNESS_SENDER_POLICY");  // "normal": keep the ordinary policy
    bool realtime = !(policy != nullptr && std::string(policy) == "normal") && AskRealTime();
    if (!realtime) AskShortSlice();
    std::unique_lock<std::mutex> lock(send_mutex_);
    int burst = 0;
    while (true) {
      if (due_.empty()) {
        send_cv_.wait(lock);
      } else if (Now() < due_.top().at) {
        burst = 0;
        send_cv_.wait_until(lock, kOrigin + std::chrono::duration_cast<Clock::duration>(
                                                 std::chrono::duration<double>(due_.top().at)));
      } else if (++burst % (realtime ? kRealTimeSendsPerTurn : kSendsPerTurn) == 0) {
        lock.unlock();  // far behind schedule: let the queue's thread flush between bursts
        if (realtime) {
          // A yield gives way to real-time threads only: a sleep lets the server have the core. Far behind, a
          // real-time sender so takes at most ~2/3 of a core (16 sends of ~5-10 us, then 50 us).
          std::this_thread::sleep_for(std::chrono::microseconds(50));
        } else {
          std::this_thread::yield();
        }
        lock.lock();
      } else {
        SendDue();
      }
    }
  }

  // The earliest due send (under send_mutex_).
  void SendDue() {
    Due next = due_.top();
    due_.pop();
    auto found = schedules_.find(next.id);
    if (found == schedules_.end() || found->second.version != next.version) return;  // removed or replaced
    Schedule& schedule = found->second;
    double lag = std::max(Now() - schedule.intended, 0.0);
    if (lag > kLateS) {
      late_++;
      max_lag_ms_ = std::max(max_lag_ms_, lag * 1000.0);
    }
    if (in_flight_.load() >= schedule.max_in_flight) {
      dropped_++;
    } else {
      in_flight_++;
      sent_.push_back(WallNow());
      lags_.push_back(static_cast<uint32_t>(std::min(lag * 1e6, 4294967295.0)));
      Start(false, schedule.intended);
    }
    schedule.Advance();
    due_.push({schedule.intended, next.id, next.version});
  }

  // Lanes whose request found no server wait before sending again (as aio_engine.py): a refused connection
  // fails at once, and resending at once spins the CPU without measuring anything.
  std::priority_queue<double, std::vector<double>, std::greater<double>> lane_restarts_;
  double backoff_s_ = 0.0;

  double NextDeadline() const {
    return lane_restarts_.empty() ? next_flush_ : std::min(next_flush_, lane_restarts_.top());
  }

  void RestartDueLanes() {
    double now = Now();
    while (!lane_restarts_.empty() && lane_restarts_.top() <= now) {
      lane_restarts_.pop();
      if (lanes_running_ > lanes_target_) {
        lanes_running_--;
      } else {
        Start(true, Now());
      }
    }
  }

  // A call on either thread: lanes on the queue's, open-loop sends on the sender's (under send_mutex_).
  void Start(bool lane, double origin) {
    if (http_mode_.load()) {
      outstanding_++;
      PendingSend send{lane, origin, generation_, next_payload_++ % http_bodies_->bodies.size()};
      if (std::this_thread::get_id() == loop_thread_) return LaunchHttp(send);
      std::lock_guard<std::mutex> lock(pending_mutex_);  // the sender thread's: started by the multi's thread
      pending_.push_back(send);
      curl_multi_wakeup(multi_);
      return;
    }
    auto* call = new Call();
    call->lane = lane;
    call->origin = origin;
    call->generation = generation_;
    call->context.set_deadline(std::chrono::system_clock::now() +
                               std::chrono::duration_cast<std::chrono::system_clock::duration>(
                                   std::chrono::duration<double>(timeout_)));
    call->entry = next_payload_++ % payloads_.size();
    const grpc::ByteBuffer& payload = payloads_[call->entry];
    outstanding_++;
    call->reader = stub_->PrepareUnaryCall(&call->context, kMethod, payload, &cq_);
    call->reader->StartCall();
    call->reader->Finish(&call->response, &call->status, call);
  }

  void Completed(Call* call) {
    std::unique_ptr<Call> owned(call);
    outstanding_--;
    if (call->generation != generation_) return;  // stopped: nothing from before a stop is reported
    bool unavailable = call->status.error_code() == grpc::StatusCode::UNAVAILABLE;
    std::string wrong = call->status.ok() ? Invalid(call) : "";
    if (wrong.empty() && !call->status.ok())
      wrong = std::string(StatusName(call->status.error_code())) + ": " + call->status.error_message();
    Finished(call->origin, call->lane, unavailable, wrong);  // a wrong answer is a failure of the level
  }

  // A reply of this generation, either protocol: its latency or its error ("" for none), then its lane's next send.
  void Finished(double origin, bool lane, bool unavailable, const std::string& error) {
    uint32_t micros = static_cast<uint32_t>(std::min((Now() - origin) * 1e6, 4294967295.0));
    backoff_s_ = unavailable ? std::min(std::max(backoff_s_ * 2, kBackoffMinS), kBackoffMaxS) : 0.0;
    if (error.empty()) {
      latencies_.push_back(micros);
    } else {
      errors_.emplace_back(micros, error);
    }
    if (!lane) {
      in_flight_--;
    } else if (lanes_running_ > lanes_target_) {
      lanes_running_--;  // fewer lanes asked for: this one retires
    } else if (unavailable) {
      lane_restarts_.push(Now() + backoff_s_);
    } else {
      Start(true, Now());
    }
  }

  // Why a successful response is wrong for its entry ("" when it is right, or when nothing is checked).
  std::string Invalid(Call* call) {
    if (expect_.empty()) return "";
    std::vector<grpc::Slice> slices;
    call->response.Dump(&slices);
    std::string bytes;
    for (const grpc::Slice& slice : slices) bytes.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
    std::map<std::string, std::string> outputs;
    ParseOutputs(bytes, &outputs);
    for (const Expected& want : expect_[call->entry % expect_.size()]) {
      auto found = outputs.find(want.name);
      std::string problem = found == outputs.end() ? "missing from the response" : Mismatch(want, found->second);
      if (!problem.empty())
        return "validation: entry " + std::to_string(call->entry) + ", output '" + want.name + "': " + problem;
    }
    return "";
  }

  void SetLanes(int count) {
    lanes_target_ = std::max(count, 0);
    if (!stub_ && !http_bodies_) return;
    while (lanes_running_ < lanes_target_) {
      lanes_running_++;
      Start(true, Now());
    }
  }

  // Requests in flight at a stop are left to finish (their results are dropped by generation), never cancelled:
  // a Triton without the fix of server issue 8034 (March 2025; our 2.51 predates it) can crash on a cancellation
  // that races the response.
  void Stop() {
    std::lock_guard<std::mutex> lock(send_mutex_);
    generation_++;
    lanes_target_ = lanes_running_ = 0;
    in_flight_ = 0;
    lane_restarts_ = {};
    backoff_s_ = 0.0;
    schedules_.clear();
    due_ = {};
  }

  // Before exiting, the requests in flight get up to kQuitGraceS to finish: an exit cancels them all.
  void AwaitOutstanding() {
    double deadline = Now() + std::min(timeout_, kQuitGraceS);
    if (http_mode_.load()) {  // sends asked before the quit and not yet started are not started now
      std::lock_guard<std::mutex> lock(pending_mutex_);
      outstanding_ -= static_cast<int>(pending_.size());
      pending_.clear();
    }
    while (http_mode_.load() && outstanding_.load() > 0 && Now() < deadline) {
      int running = 0, left = 0;
      curl_multi_perform(multi_, &running);
      while (CURLMsg* message = curl_multi_info_read(multi_, &left)) {
        if (message->msg == CURLMSG_DONE) CompletedHttp(message->easy_handle, message->data.result);
      }
      curl_multi_poll(multi_, nullptr, 0, 10, nullptr);
    }
    while (outstanding_.load() > 0 && Now() < deadline) {
      void* tag = nullptr;
      bool ok = false;
      if (cq_.AsyncNext(&tag, &ok, At(deadline)) != grpc::CompletionQueue::GOT_EVENT) break;
      if (static_cast<Tag*>(tag)->kind == Tag::kCall) {
        Completed(static_cast<Call*>(tag));
      } else {
        delete static_cast<Wake*>(tag);
      }
    }
  }

  bool RunCommands() {
    std::deque<Command> commands;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      commands.swap(commands_);
    }
    for (const Command& command : commands) {
      if (command.op == "quit") {
        Stop();
        Flush(-1);
        AwaitOutstanding();
        return false;
      }
      Apply(command);
      if (command.seq >= 0) Flush(command.seq);  // results so far, then the ack: nothing older follows
    }
    return true;
  }

  void Apply(const Command& command) {
    if (command.op == "config" && (command.protocol == "http" || http_mode_.load())) {
      std::lock_guard<std::mutex> lock(send_mutex_);
      ConfigureHttp(command);
    } else if (command.op == "config") {
      std::lock_guard<std::mutex> lock(send_mutex_);
      if (!channel_) {
        grpc::ChannelArguments args;
        args.SetMaxReceiveMessageSize(-1);
        args.SetMaxSendMessageSize(-1);
        channel_ = grpc::CreateCustomChannel(command.url, grpc::InsecureChannelCredentials(), args);
        stub_ = std::make_unique<grpc::GenericStub>(channel_);
      }
      payloads_.clear();
      for (const std::string& bytes : command.payloads.empty() ? std::vector<std::string>{command.payload}
                                                                : command.payloads) {
        grpc::Slice slice(bytes);
        payloads_.emplace_back(&slice, 1);
      }
      next_payload_ = 0;
      expect_ = command.expect;
      timeout_ = command.timeout;
    } else if (command.op == "lanes") {
      SetLanes(static_cast<int>(command.n));
    } else if (command.op == "trace") {
      std::lock_guard<std::mutex> lock(send_mutex_);
      trace_ = std::make_shared<const std::vector<double>>(command.gaps);
    } else if (command.op == "schedule") {
      std::lock_guard<std::mutex> lock(send_mutex_);
      schedules_.erase(command.id);
      if (command.rps > 0 && (stub_ || http_bodies_)) {
        uint64_t seed = static_cast<uint64_t>(command.seed < 0 ? -command.seed : command.seed);
        double now = Now();
        double origin = command.has_start ? now + (command.start - WallNow()) : now;
        auto placed = schedules_.emplace(
            std::piecewise_construct, std::forward_as_tuple(command.id),
            std::forward_as_tuple(command.arrivals, command.rps, seed, static_cast<int>(command.max_in_flight),
                                  origin, command.index, command.senders, trace_));
        placed.first->second.SkipTo(now);
        placed.first->second.version = ++next_version_;
        due_.push({placed.first->second.intended, command.id, next_version_});
        send_cv_.notify_one();
      }
    } else if (command.op == "unschedule") {
      std::lock_guard<std::mutex> lock(send_mutex_);
      schedules_.erase(command.id);
    } else if (command.op == "stop") {
      Stop();
    }
  }

  void Flush(int64_t ack) {
    std::vector<double> sent;
    std::vector<uint32_t> lags;
    int64_t late, dropped;
    double max_lag_ms;
    {
      std::lock_guard<std::mutex> lock(send_mutex_);
      sent.swap(sent_);
      lags.swap(lags_);
      late = late_;
      dropped = dropped_;
      max_lag_ms = max_lag_ms_;
      late_ = dropped_ = 0;
      max_lag_ms_ = 0.0;
    }
    if (latencies_.empty() && errors_.empty() && sent.empty() && !late && !dropped && ack < 0) return;
    msgpack::sbuffer body;
    msgpack::packer<msgpack::sbuffer> pack(body);
    pack.pack_map(10);
    PackBin(pack, "lat", latencies_);
    pack.pack("err");
    pack.pack_array(static_cast<uint32_t>(errors_.size()));
    for (const auto& error : errors_) {
      pack.pack_array(2);
      pack.pack(error.first);
      pack.pack(error.second);
    }
    pack.pack("cpu");
    pack.pack(ProcessCpuSeconds());
    pack.pack("ack");
    if (ack >= 0) pack.pack(ack); else pack.pack_nil();
    pack.pack("late");
    pack.pack(late);
    pack.pack("max_lag_ms");
    pack.pack(max_lag_ms);
    pack.pack("dropped");
    pack.pack(dropped);
    pack.pack("in_flight");
    pack.pack(in_flight_.load());
    PackBin(pack, "sent", sent);
    PackBin(pack, "lag", lags);
    latencies_.clear();
    errors_.clear();
    uint32_t size = static_cast<uint32_t>(body.size());
    unsigned char header[4] = {static_cast<unsigned char>(size >> 24), static_cast<unsigned char>(size >> 16),
                               static_cast<unsigned char>(size >> 8), static_cast<unsigned char>(size)};
    if (fwrite(header, 1, 4, stdout) != 4 || fwrite(body.data(), 1, body.size(), stdout) != body.size() ||
        fflush(stdout) != 0) {
      _exit(0);  // the Locust process is gone: nobody to report to
    }
  }

  template <typename T>
  static void PackBin(msgpack::packer<msgpack::sbuffer>& pack, const char* key, const std::vector<T>& values) {
    uint32_t size = static_cast<uint32_t>(values.size() * sizeof(T));
    pack.pack(key);
    pack.pack_bin(size);
    pack.pack_bin_body(reinterpret_cast<const char*>(values.data()), size);
  }

  // The reader thread: parse frames from stdin, queue them, wake the engine. End of input means quit.
  void ReadCommands() {
    while (true) {
      Command command;
      if (!ReadFrame(&command)) command.op = "quit";
      {
        std::lock_guard<std::mutex> lock(mutex_);
        commands_.push_back(command);
      }
      commands_pending_ = true;
      if (http_mode_.load()) {
        curl_multi_wakeup(multi_);
      } else {
        auto* wake = new Wake();
        wake->alarm.Set(&cq_, gpr_now(GPR_CLOCK_MONOTONIC), wake);
      }
      if (command.op == "quit") return;
    }
  }

  static bool ReadExactly(char* buffer, size_t size) {
    return fread(buffer, 1, size, stdin) == size;
  }

  // "expect": per payload, [[name, datatype, shape, bytes, atol, rtol, top1], ...] (protocol.py).
  static void ReadExpect(const msgpack::object& value, std::vector<std::vector<Expected>>* expect) {
    for (uint32_t i = 0; i < value.via.array.size; i++) {
      const msgpack::object& entry = value.via.array.ptr[i];
      std::vector<Expected> outputs;
      for (uint32_t j = 0; entry.type == msgpack::type::ARRAY && j < entry.via.array.size; j++) {
        const msgpack::object* item = entry.via.array.ptr[j].via.array.ptr;
        Expected want;
        want.name = item[0].as<std::string>();
        want.datatype = item[1].as<std::string>();
        want.shape = item[2].as<std::vector<int64_t>>();
        want.data.assign(item[3].via.bin.ptr, item[3].via.bin.size);
        want.atol = item[4].as<double>();
        want.rtol = item[5].as<double>();
        want.top1 = item[6].as<bool>();
        outputs.push_back(want);
      }
      expect->push_back(outputs);
    }
  }

  static bool ReadFrame(Command* command) {
    unsigned char header[4];
    if (!ReadExactly(reinterpret_cast<char*>(header), 4)) return false;
    size_t size = (size_t{header[0]} << 24) | (size_t{header[1]} << 16) | (size_t{header[2]} << 8) | header[3];
    std::string body(size, '\0');
    if (!ReadExactly(body.data(), size)) return false;
    msgpack::object_handle handle = msgpack::unpack(body.data(), body.size());
    const msgpack::object& map = handle.get();
    if (map.type != msgpack::type::MAP) return false;
    for (uint32_t i = 0; i < map.via.map.size; i++) {
      const std::string key = map.via.map.ptr[i].key.as<std::string>();
      const msgpack::object& value = map.via.map.ptr[i].val;
      if (key == "op") command->op = value.as<std::string>();
      else if (key == "url") command->url = value.as<std::string>();
      else if (key == "protocol") command->protocol = value.as<std::string>();
      else if (key == "path") command->path = value.as<std::string>();
      else if (key == "header_lengths") command->header_lengths = value.as<std::vector<int64_t>>();
      else if (key == "payload") command->payload.assign(value.via.bin.ptr, value.via.bin.size);
      else if (key == "payloads" && value.type == msgpack::type::ARRAY) {
        for (uint32_t j = 0; j < value.via.array.size; j++) {
          const msgpack::object& item = value.via.array.ptr[j];
          command->payloads.emplace_back(item.via.bin.ptr, item.via.bin.size);
        }
      }
      else if (key == "expect" && value.type == msgpack::type::ARRAY) ReadExpect(value, &command->expect);
      else if (key == "gaps" && value.type == msgpack::type::BIN) {
        command->gaps.resize(value.via.bin.size / sizeof(double));
        memcpy(command->gaps.data(), value.via.bin.ptr, command->gaps.size() * sizeof(double));
      }
      else if (key == "arrivals") command->arrivals = value.as<std::string>();
      else if (key == "timeout") command->timeout = value.as<double>();
      else if (key == "rps") command->rps = value.as<double>();
      else if (key == "n") command->n = value.as<int64_t>();
      else if (key == "id") command->id = value.as<int64_t>();
      else if (key == "seed") command->seed = value.as<int64_t>();
      else if (key == "max_in_flight") command->max_in_flight = value.as<int64_t>();
      else if (key == "index") command->index = value.as<int64_t>();
      else if (key == "senders") command->senders = value.as<int64_t>();
      else if (key == "seq") command->seq = value.as<int64_t>();
      else if (key == "start" && value.type != msgpack::type::NIL) {
        command->start = value.as<double>();
        command->has_start = true;
      }
    }
    return true;
  }
};

// lean_engine --schedule RPS KIND SEED COUNT [PHASE [INDEX SENDERS]]: a schedule's first intended send times
// (seconds from the origin), for the parity tests against harness/load/arrivals.py; a trace's gaps (seconds) are
// read from stdin, one a line.
int PrintSchedule(int argc, char** argv) {
  int64_t seed = std::stoll(argv[4]);
  std::string kind = argv[3];
  auto gaps = std::make_shared<std::vector<double>>();
  for (double gap; kind == "trace" && scanf("%lf", &gap) == 1;) gaps->push_back(gap);
  Schedule schedule(kind, std::stod(argv[2]), static_cast<uint64_t>(seed < 0 ? -seed : seed), 0,
                    argc >= 7 ? std::stod(argv[6]) : 0.0, argc == 9 ? std::stoll(argv[7]) : 0,
                    argc == 9 ? std::stoll(argv[8]) : 1, gaps);
  for (long count = std::stol(argv[5]); count > 0; count--, schedule.Advance()) printf("%.17g\n", schedule.intended);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if ((argc == 6 || argc == 7 || argc == 9) && std::string(argv[1]) == "--schedule") return PrintSchedule(argc, argv);
  if (argc != 1) {
    fprintf(stderr,
            "usage: lean_engine  |  lean_engine --schedule RPS constant|poisson|gamma:CV|trace SEED COUNT "
            "[PHASE [INDEX SENDERS]]\n");
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  curl_global_init(CURL_GLOBAL_DEFAULT);
  (new Engine())->Run();  // never destroyed: its detached threads may still touch it until _exit
  fflush(stdout);
  _exit(0);  // no orderly gRPC teardown: the Locust process is done with us
}
