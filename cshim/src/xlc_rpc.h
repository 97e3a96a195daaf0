// ggml's RPC backend behind the facade (xlc_rpc.cpp): what the parameter
// code needs to name RPC servers and their devices.
#pragma once

#include "xlc_internal.h"

#include "ggml-backend.h"

#include <string>
#include <vector>

struct common_params;

namespace xlc {

// The "rpc_servers" parameter, a view of `devices`: reading it lists the RPC
// servers whose devices `devices` holds; setting it ("HOST:PORT,...") checks
// each server, and puts its devices in front of `devices` (in front of the
// local GPUs llama.cpp would pick when `devices` was empty).
std::string rpc_servers_type();
ojson       rpc_servers_get(const common_params & p);
void        rpc_servers_set(common_params & p, const ojson & value);

// -dev/--device when its list names an RPC server's device (which llama.cpp's handler, reading
// ggml's global list, would not find): sets p.devices and returns true; false leaves it to llama.cpp.
bool rpc_device_flag(common_params & p, const std::string & value);

// A device of an RPC server this process has named ("RPC0", ...), or nullptr.
// These devices stay out of ggml's global list, so a model uses them only when
// its `devices` names them.
ggml_backend_dev_t rpc_device_by_name(const std::string & name);
std::vector<std::string> rpc_device_names();

} // namespace xlc
