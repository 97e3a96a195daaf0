// Opening the llguidance wheel's library (xlc_llg_forward.cpp).
#pragma once

#include <string>

bool xlc_llg_open(const char * path, std::string & error);  // false and a message when it cannot
bool xlc_llg_loaded();
