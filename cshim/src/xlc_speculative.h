// Speculative decoding as upstream xllamacpp's users drive it (xlc_speculative.cpp).
#pragma once

struct common_params;

namespace xlc {

// A draft model path with no speculative type chosen turns on draft-model speculation
// (the type the draft file's metadata names, else draft-simple).
void resolve_speculative_types(common_params & p);

} // namespace xlc
