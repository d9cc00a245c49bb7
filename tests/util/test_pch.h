// The precompiled header every test binary shares (tests/CMakeLists.txt): only system and
// third-party headers that change with the Debian packages, never the project's own, so that
// editing a project header does not rebuild it.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
