// Ending the HTTP connections of a closing server.
//
// cpp-httplib's stop() closes the listening socket, but a worker blocked reading
// a request (a client that sent half a POST, or an idle keep-alive connection)
// only returns when its read times out, and join() waits for it. httplib keeps
// no list of its connections, so the accepted sockets are found by what they are:
// connected TCP sockets of this process whose local port is the server's.
// shutdown() (not close()) wakes the blocked worker with end-of-file and leaves
// the descriptor to its owner, so no descriptor is closed twice.
#include "xlc_server.h"

#include <dirent.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <cstdlib>

namespace xlc {

namespace {

int local_port(int fd) {
    sockaddr_storage addr{};
    socklen_t len = sizeof(addr);
    if (getsockname(fd, reinterpret_cast<sockaddr *>(&addr), &len) != 0) return -1;
    if (addr.ss_family == AF_INET) return ntohs(reinterpret_cast<sockaddr_in *>(&addr)->sin_port);
    if (addr.ss_family == AF_INET6) return ntohs(reinterpret_cast<sockaddr_in6 *>(&addr)->sin6_port);
    return -1;
}

bool is_connected_stream(int fd) {
    struct stat st{};
    if (fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode)) return false;
    int value = 0;
    socklen_t len = sizeof(value);
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &value, &len) != 0 || value != SOCK_STREAM) return false;
    len = sizeof(value);
    if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &value, &len) == 0 && value != 0) return false;  // a listener
    sockaddr_storage peer{};
    socklen_t peer_len = sizeof(peer);
    return getpeername(fd, reinterpret_cast<sockaddr *>(&peer), &peer_len) == 0;
}

} // namespace

void shutdown_connections(int port) {
    if (port <= 0) return;
    DIR * dir = opendir("/proc/self/fd");
    if (!dir) return;
    const int own = dirfd(dir);
    while (const dirent * entry = readdir(dir)) {
        char * end = nullptr;
        const long fd = std::strtol(entry->d_name, &end, 10);
        if (end == entry->d_name || *end != '\0' || fd == own) continue;
        if (is_connected_stream(static_cast<int>(fd)) && local_port(static_cast<int>(fd)) == port) {
            shutdown(static_cast<int>(fd), SHUT_RDWR);
        }
    }
    closedir(dir);
}

} // namespace xlc
