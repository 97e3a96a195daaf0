// ggml's RPC backend behind the facade: the RPC servers a model is split
// across (the "rpc_servers" parameter, --rpc), their devices, a probe with a
// deadline, and the server side (xlc_rpc_serve).
//
// llama-server's --rpc adds a server's devices to ggml's global device list,
// where every later model in the process would pick them up by default. Here
// several servers share a process, so the devices stay out of that list: a
// model uses them when its `devices` names them, which "rpc_servers" does.
//
// ggml's client has no timeouts and ends the process when a server does not
// answer (xlc_abort.h turns that into an error where it can). So a server is
// first checked with a small client of our own that has a deadline: it speaks
// the protocol's HELLO, DEVICE_COUNT and GET_DEVICE_MEMORY commands.
#include "xlc_rpc.h"
#include "xlc_abort.h"

#include "common.h"
#include "ggml-backend.h"
#include "ggml-rpc.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <thread>

namespace xlc {
namespace {

// --- addresses -----------------------------------------------------------------

struct endpoint {
    std::string given;  // as written by the caller
    sockaddr_in addr{};

    // what ggml is handed: the resolved IPv4 address, so one server has one name (and one connection)
    std::string key() const {
        char ip[INET_ADDRSTRLEN] = {0};
        inet_ntop(AF_INET, &addr.sin_addr, ip, sizeof(ip));
        return std::string(ip) + ":" + std::to_string(ntohs(addr.sin_port));
    }
};

std::string trim(const std::string & s) {
    const size_t b = s.find_first_not_of(" \t");
    if (b == std::string::npos) return "";
    return s.substr(b, s.find_last_not_of(" \t") - b + 1);
}

int parse_port(const std::string & text, const std::string & what) {
    char * end = nullptr;
    errno = 0;
    const long port = text.empty() ? -1 : std::strtol(text.c_str(), &end, 10);
    if (errno || !end || *end || port < 1 || port > 65535) {
        throw invalid(what + ": the port must be a number from 1 to 65535");
    }
    return static_cast<int>(port);
}

endpoint parse_endpoint(const std::string & text) {
    const std::string given = trim(text);
    const size_t colon = given.rfind(':');
    if (colon == std::string::npos || colon == 0) {
        throw invalid("RPC server '" + given + "' is not HOST:PORT (for example 127.0.0.1:50052)");
    }
    const std::string host = given.substr(0, colon);
    const int port = parse_port(given.substr(colon + 1), "RPC server '" + given + "'");
    addrinfo hints{};
    hints.ai_family = AF_INET;  // ggml's RPC transport is IPv4
    hints.ai_socktype = SOCK_STREAM;
    addrinfo * found = nullptr;
    const int rc = getaddrinfo(host.c_str(), nullptr, &hints, &found);
    if (rc != 0 || !found) {
        throw invalid("RPC server '" + given + "': cannot resolve '" + host + "' to an IPv4 address (" + gai_strerror(rc) + ")");
    }
    endpoint ep;
    ep.given = given;
    ep.addr = *reinterpret_cast<const sockaddr_in *>(found->ai_addr);
    ep.addr.sin_port = htons(static_cast<uint16_t>(port));
    freeaddrinfo(found);
    return ep;
}

// --- a client with a deadline ------------------------------------------------------

// protocol facts (ggml-rpc.cpp): a request is | command (1 byte) | size (8) | payload |,
// a reply | size (8) | payload |; HELLO carries 24 bytes of transport capabilities
// and answers major, minor, patch, padding and 24 bytes of capabilities
constexpr uint8_t  k_cmd_get_device_memory = 11;
constexpr uint8_t  k_cmd_hello             = 14;
constexpr uint8_t  k_cmd_device_count      = 15;
constexpr uint64_t k_caps_size             = 24;

struct busy_error : error {
    using error::error;
};

class probe_socket {
public:
    probe_socket(const endpoint & ep, int timeout_ms)
        : ep_(ep), timeout_ms_(std::max(timeout_ms, 1)),
          deadline_(std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms_)) {
        fd_.fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd_.fd < 0) fail(std::string("cannot open a socket: ") + std::strerror(errno));
        if (::connect(fd_.fd, reinterpret_cast<const sockaddr *>(&ep.addr), sizeof(ep.addr)) != 0) {
            if (errno != EINPROGRESS) fail_errno(errno);
            if (!wait(POLLOUT)) {
                fail("no answer within " + seconds(timeout_ms) + " (wrong address, or a firewall dropping the connection?)");
            }
            int err = 0;
            socklen_t len = sizeof(err);
            getsockopt(fd_.fd, SOL_SOCKET, SO_ERROR, &err, &len);
            if (err) fail_errno(err);
        }
    }
    probe_socket(const probe_socket &) = delete;
    probe_socket & operator=(const probe_socket &) = delete;

    // one command and its fixed-size reply
    void call(uint8_t cmd, const void * in, uint64_t in_size, void * out, uint64_t out_size) {
        std::string request(1 + sizeof(uint64_t) + in_size, '\0');
        request[0] = static_cast<char>(cmd);
        std::memcpy(&request[1], &in_size, sizeof(in_size));
        if (in_size) std::memcpy(&request[1 + sizeof(uint64_t)], in, in_size);
        send_all(request.data(), request.size());
        uint64_t size = 0;
        recv_all(&size, sizeof(size), cmd == k_cmd_hello);
        if (size != out_size) {
            fail("answered, but not as a ggml RPC server of protocol " + std::to_string(RPC_PROTO_MAJOR_VERSION) +
                 ".x (a reply of " + std::to_string(size) + " bytes where " + std::to_string(out_size) + " were expected)");
        }
        recv_all(out, out_size, false);
    }

    [[noreturn]] void fail(const std::string & why) const {
        throw error(XLC_ERR_IO, "RPC server " + ep_.given + ": " + why);
    }

private:
    struct owned_fd {
        int fd = -1;
        ~owned_fd() {
            if (fd >= 0) ::close(fd);
        }
    };

    const endpoint & ep_;
    int timeout_ms_;
    std::chrono::steady_clock::time_point deadline_;
    owned_fd fd_;

    static std::string seconds(int ms) {
        char buf[32];
        std::snprintf(buf, sizeof(buf), "%.1f s", ms / 1000.0);
        return buf;
    }

    [[noreturn]] void fail_errno(int err) const {
        if (err == ECONNREFUSED) fail("connection refused (no RPC server listens there)");
        fail(std::strerror(err));
    }

    bool wait(short events) {
        while (true) {
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline_ - std::chrono::steady_clock::now()).count();
            if (left <= 0) return false;
            pollfd p{fd_.fd, events, 0};
            const int rc = ::poll(&p, 1, static_cast<int>(left));
            if (rc > 0) return true;
            if (rc == 0) return false;
            if (errno != EINTR) fail_errno(errno);
        }
    }

    void send_all(const char * data, size_t size) {
        while (size) {
            const ssize_t n = ::send(fd_.fd, data, size, MSG_NOSIGNAL);
            if (n > 0) {
                data += n;
                size -= static_cast<size_t>(n);
            } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
                if (!wait(POLLOUT)) fail("timed out sending");
            } else {
                fail_errno(errno);
            }
        }
    }

    void recv_all(void * out, size_t size, bool first_reply) {
        char * p = static_cast<char *>(out);
        while (size) {
            const ssize_t n = ::recv(fd_.fd, p, size, 0);
            if (n > 0) {
                p += n;
                size -= static_cast<size_t>(n);
            } else if (n == 0) {
                fail("closed the connection (not a ggml RPC server, or one of another protocol version)");
            } else if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
                if (!wait(POLLIN)) {
                    if (first_reply) {
                        throw busy_error(XLC_ERR_IO, "RPC server " + ep_.given + ": accepted the connection but did not answer within " +
                                                         seconds(timeout_ms_) + " (ggml's RPC server serves one client at a time: is another one using it?)");
                    }
                    fail("timed out waiting for a reply");
                }
            } else {
                fail_errno(errno);
            }
        }
    }
};

struct device_memory {
    uint64_t free = 0, total = 0;
};

struct probe_result {
    int major = 0, minor = 0, patch = 0;
    std::vector<device_memory> devices;
};

probe_result probe(const endpoint & ep, int timeout_ms) {
    probe_socket s(ep, timeout_ms);
    uint8_t caps[k_caps_size] = {0};  // no RDMA: TCP
    uint8_t hello[4 + k_caps_size] = {0};
    s.call(k_cmd_hello, caps, sizeof(caps), hello, sizeof(hello));
    probe_result r;
    r.major = hello[0];
    r.minor = hello[1];
    r.patch = hello[2];
    if (r.major != RPC_PROTO_MAJOR_VERSION || r.minor > RPC_PROTO_MINOR_VERSION) {
        s.fail("speaks RPC protocol " + std::to_string(r.major) + "." + std::to_string(r.minor) + "." + std::to_string(r.patch) +
               ", this library " + std::to_string(RPC_PROTO_MAJOR_VERSION) + "." + std::to_string(RPC_PROTO_MINOR_VERSION) +
               ": run a server built from the same llama.cpp");
    }
    uint32_t count = 0;
    s.call(k_cmd_device_count, nullptr, 0, &count, sizeof(count));
    for (uint32_t i = 0; i < count; ++i) {
        uint64_t mem[2] = {0, 0};
        s.call(k_cmd_get_device_memory, &i, sizeof(i), mem, sizeof(mem));
        r.devices.push_back({mem[0], mem[1]});
    }
    return r;
}

// Whether this process holds a connection to ep: ggml's client keeps one per server while a
// model uses it, and the server, serving one client at a time, answers no one else meanwhile.
bool connected_here(const endpoint & ep) {
    DIR * dir = opendir("/proc/self/fd");
    if (!dir) return false;
    bool found = false;
    while (dirent * entry = readdir(dir)) {
        char * end = nullptr;
        const long fd = std::strtol(entry->d_name, &end, 10);
        if (!end || *end || end == entry->d_name) continue;
        struct stat st;
        if (fstat(static_cast<int>(fd), &st) != 0 || !S_ISSOCK(st.st_mode)) continue;
        sockaddr_in peer{};
        socklen_t len = sizeof(peer);
        if (getpeername(static_cast<int>(fd), reinterpret_cast<sockaddr *>(&peer), &len) == 0 && peer.sin_family == AF_INET &&
            peer.sin_addr.s_addr == ep.addr.sin_addr.s_addr && peer.sin_port == ep.addr.sin_port) {
            found = true;
            break;
        }
    }
    closedir(dir);
    return found;
}

constexpr int k_check_timeout_ms = 5000;

// Probes ep; true when it answered (r filled), false when it is busy with this very process.
bool check(const endpoint & ep, int timeout_ms, probe_result & r) {
    try {
        r = probe(ep, timeout_ms);
        return true;
    } catch (const busy_error &) {
        if (connected_here(ep)) return false;
        throw;
    }
}

// --- the servers this process has named ----------------------------------------------

struct attached_server {
    std::string                     key;
    std::vector<ggml_backend_dev_t> devices;
};

std::mutex                   g_mutex;
std::vector<attached_server> g_servers;

attached_server attach(const std::string & text) {
    const endpoint ep = parse_endpoint(text);
    const std::string key = ep.key();
    std::lock_guard<std::mutex> lock(g_mutex);
    probe_result r;
    check(ep, k_check_timeout_ms, r);
    for (const auto & s : g_servers) {
        if (s.key == key) return s;
    }
    ggml_backend_reg_t reg = nullptr;
    {
        abort_scope scope(XLC_ERR_IO);
        reg = ggml_backend_rpc_add_server(key.c_str());
    }
    if (!reg || ggml_backend_reg_dev_count(reg) == 0) {
        throw error(XLC_ERR_IO, "RPC server " + ep.given + " offers no device");
    }
    attached_server s{key, {}};
    for (size_t i = 0; i < ggml_backend_reg_dev_count(reg); ++i) {
        s.devices.push_back(ggml_backend_reg_dev_get(reg, i));
    }
    g_servers.push_back(s);
    return s;
}

const attached_server * server_of(ggml_backend_dev_t dev) {
    for (const auto & s : g_servers) {
        if (std::find(s.devices.begin(), s.devices.end(), dev) != s.devices.end()) return &s;
    }
    return nullptr;
}

// The local devices llama.cpp offloads to when `devices` is empty: its GPUs, else its integrated GPUs.
std::vector<ggml_backend_dev_t> local_default_devices() {
    std::vector<ggml_backend_dev_t> gpus, igpus;
    for (size_t i = 0; i < ggml_backend_dev_count(); ++i) {
        ggml_backend_dev_t dev = ggml_backend_dev_get(i);
        const auto type = ggml_backend_dev_type(dev);
        if (type == GGML_BACKEND_DEVICE_TYPE_GPU) gpus.push_back(dev);
        if (type == GGML_BACKEND_DEVICE_TYPE_IGPU) igpus.push_back(dev);
    }
    return gpus.empty() ? igpus : gpus;
}

ojson device_json(ggml_backend_dev_t dev, const std::string & endpoint, const device_memory * mem, const std::string & problem) {
    return {
        {"name", ggml_backend_dev_name(dev)},
        {"description", ggml_backend_dev_description(dev)},
        {"type", static_cast<int>(ggml_backend_dev_type(dev))},
        {"backend", "RPC"},
        {"device_id", ""},
        {"memory_free", mem ? mem->free : 0},
        {"memory_total", mem ? mem->total : 0},
        {"caps", {{"async", true}, {"host_buffer", false}, {"buffer_from_host_ptr", false}, {"events", true}}},
        {"endpoint", endpoint},
        {"reachable", problem.empty()},
        {"error", problem},
    };
}

} // namespace

std::string rpc_servers_type() { return "str"; }

ojson rpc_servers_get(const common_params & p) {
    std::lock_guard<std::mutex> lock(g_mutex);
    std::vector<std::string> keys;
    for (ggml_backend_dev_t dev : p.devices) {
        const attached_server * s = dev ? server_of(dev) : nullptr;
        if (s && std::find(keys.begin(), keys.end(), s->key) == keys.end()) keys.push_back(s->key);
    }
    std::string out;
    for (const auto & k : keys) out += (out.empty() ? "" : ",") + k;
    return out;
}

void rpc_servers_set(common_params & p, const ojson & value) {
    if (!value.is_string()) {
        throw invalid("expected a str of RPC servers, \"HOST:PORT,HOST:PORT\", got " + std::string(value.type_name()) + " " + value.dump());
    }
    std::vector<ggml_backend_dev_t> remote;
    std::vector<std::string> seen;
    for (const auto & item : string_split<std::string>(value.get<std::string>(), ',')) {
        if (trim(item).empty()) continue;
        const attached_server s = attach(item);
        if (std::find(seen.begin(), seen.end(), s.key) != seen.end()) continue;
        seen.push_back(s.key);
        remote.insert(remote.end(), s.devices.begin(), s.devices.end());
    }
    std::vector<ggml_backend_dev_t> local;
    {
        std::lock_guard<std::mutex> lock(g_mutex);
        for (ggml_backend_dev_t dev : p.devices) {
            if (dev && !server_of(dev)) local.push_back(dev);
        }
    }
    if (p.devices.empty()) local = local_default_devices();
    std::vector<ggml_backend_dev_t> devices = remote;
    devices.insert(devices.end(), local.begin(), local.end());
    if (!devices.empty()) devices.push_back(nullptr);  // llama.cpp reads the list up to a null entry
    p.devices = devices;
}

bool rpc_device_flag(common_params & p, const std::string & value) {
    const auto names = string_split<std::string>(value, ',');
    bool any_rpc = false;
    for (const auto & n : names) any_rpc = any_rpc || rpc_device_by_name(trim(n)) != nullptr;
    if (!any_rpc) return false;
    std::vector<ggml_backend_dev_t> devices;
    for (const auto & n : names) {
        const std::string name = trim(n);
        ggml_backend_dev_t dev = rpc_device_by_name(name);
        if (!dev) dev = ggml_backend_dev_by_name(name.c_str());
        // as llama.cpp's handler: the CPU is always used, so naming it is a mistake
        if (!dev || ggml_backend_dev_type(dev) == GGML_BACKEND_DEVICE_TYPE_CPU) throw invalid("invalid device: " + name);
        devices.push_back(dev);
    }
    devices.push_back(nullptr);
    p.devices = devices;
    return true;
}

ggml_backend_dev_t rpc_device_by_name(const std::string & name) {
    std::lock_guard<std::mutex> lock(g_mutex);
    for (const auto & s : g_servers) {
        for (ggml_backend_dev_t dev : s.devices) {
            if (name == ggml_backend_dev_name(dev)) return dev;
        }
    }
    return nullptr;
}

std::vector<std::string> rpc_device_names() {
    std::lock_guard<std::mutex> lock(g_mutex);
    std::vector<std::string> out;
    for (const auto & s : g_servers) {
        for (ggml_backend_dev_t dev : s.devices) out.push_back(ggml_backend_dev_name(dev));
    }
    return out;
}

} // namespace xlc

using namespace xlc;

extern "C" {

xlc_status xlc_rpc_probe(const char * endpoint_text, int timeout_ms, char ** out) {
    return guard([&] {
        if (!out) throw invalid("out is NULL");
        *out = nullptr;
        if (!endpoint_text) throw invalid("endpoint is NULL");
        const endpoint ep = parse_endpoint(endpoint_text);
        const probe_result r = probe(ep, timeout_ms);
        ojson devices = ojson::array();
        for (const auto & d : r.devices) devices.push_back({{"memory_free", d.free}, {"memory_total", d.total}});
        *out = dup(ojson{{"endpoint", ep.key()},
                         {"protocol", std::to_string(r.major) + "." + std::to_string(r.minor) + "." + std::to_string(r.patch)},
                         {"devices", devices}}
                       .dump());
    });
}

xlc_status xlc_rpc_devices(char ** out) {
    return guard([&] {
        if (!out) throw invalid("out is NULL");
        *out = nullptr;
        init_once();
        std::vector<attached_server> servers;
        {
            std::lock_guard<std::mutex> lock(g_mutex);
            servers = g_servers;
        }
        ojson list = ojson::array();
        for (const auto & s : servers) {
            std::string problem;
            probe_result r;
            bool answered = false;
            try {
                answered = check(parse_endpoint(s.key), k_check_timeout_ms, r);
            } catch (const std::exception & e) {
                problem = e.what();
            }
            for (size_t i = 0; i < s.devices.size(); ++i) {
                device_memory mem;
                const device_memory * have = nullptr;
                if (problem.empty() && answered && i < r.devices.size()) {
                    have = &r.devices[i];
                } else if (problem.empty() && !answered) {
                    // in use by a model here: ask through that model's connection
                    abort_scope scope(XLC_ERR_IO);
                    size_t free = 0, total = 0;
                    ggml_backend_dev_memory(s.devices[i], &free, &total);
                    mem = {free, total};
                    have = &mem;
                }
                list.push_back(device_json(s.devices[i], s.key, have, problem));
            }
        }
        *out = dup(list.dump());
    });
}

xlc_status xlc_rpc_serve(const char * host, int port, const char * devices, int threads, const char * cache_dir) {
    return guard([&] {
        init_once();
        const std::string h = host && *host ? host : "127.0.0.1";
        in_addr parsed{};
        if (inet_pton(AF_INET, h.c_str(), &parsed) != 1) {
            throw invalid("host '" + h + "' is not an IPv4 address (ggml's RPC server listens on IPv4 only)");
        }
        parse_port(std::to_string(port), "RPC server port " + std::to_string(port));
        size_t n_threads = threads > 0 ? static_cast<size_t>(threads) : std::max(1u, std::thread::hardware_concurrency() / 2);

        std::vector<ggml_backend_dev_t> devs;
        for (const auto & name : string_split<std::string>(devices ? devices : "", ',')) {
            if (trim(name).empty()) continue;
            ggml_backend_dev_t dev = ggml_backend_dev_by_name(trim(name).c_str());
            if (!dev) {
                std::string known;
                for (size_t i = 0; i < ggml_backend_dev_count(); ++i) {
                    known += (known.empty() ? "" : ", ") + std::string(ggml_backend_dev_name(ggml_backend_dev_get(i)));
                }
                throw invalid("unknown device '" + trim(name) + "' (available: " + known + ")");
            }
            devs.push_back(dev);
        }
        if (devs.empty()) {  // as llama.cpp's rpc-server: the accelerators, else the CPU
            for (size_t i = 0; i < ggml_backend_dev_count(); ++i) {
                ggml_backend_dev_t dev = ggml_backend_dev_get(i);
                const auto type = ggml_backend_dev_type(dev);
                if (type != GGML_BACKEND_DEVICE_TYPE_CPU && type != GGML_BACKEND_DEVICE_TYPE_ACCEL) devs.push_back(dev);
            }
        }
        if (devs.empty()) {
            if (ggml_backend_dev_t cpu = ggml_backend_dev_by_type(GGML_BACKEND_DEVICE_TYPE_CPU)) devs.push_back(cpu);
        }
        if (devs.empty()) throw error(XLC_ERR_NOT_FOUND, "no device to serve");

        std::string cache;
        if (cache_dir && *cache_dir) {
            std::error_code ec;
            std::filesystem::create_directories(cache_dir, ec);
            if (ec) throw error(XLC_ERR_IO, std::string("cannot create the cache directory '") + cache_dir + "': " + ec.message());
            cache = cache_dir;
        }

        // ggml's server only says "Failed to create server socket"; find out why first
        {
            const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
            int one = 1;
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
            sockaddr_in addr{};
            addr.sin_family = AF_INET;
            addr.sin_addr = parsed;
            addr.sin_port = htons(static_cast<uint16_t>(port));
            const int rc = fd < 0 ? -1 : bind(fd, reinterpret_cast<const sockaddr *>(&addr), sizeof(addr));
            const int err = errno;
            if (fd >= 0) ::close(fd);
            if (rc != 0) throw error(XLC_ERR_IO, "cannot listen on " + h + ":" + std::to_string(port) + ": " + std::strerror(err));
        }

        const std::string where = h + ":" + std::to_string(port);
        {
            // a client's malformed request fails a ggml assert in here: end with an error, not a core dump
            abort_scope scope(XLC_ERR_INTERNAL);
            ggml_backend_rpc_start_server(where.c_str(), cache.empty() ? nullptr : cache.c_str(), n_threads, devs.size(), devs.data());
        }
        throw error(XLC_ERR_IO, "the RPC server on " + where + " stopped (its output says why)");
    });
}

} // extern "C"
