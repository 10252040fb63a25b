// The project version: what --version prints and what the servers report.
#ifndef WIREHUB_COMMON_VERSION_H_
#define WIREHUB_COMMON_VERSION_H_

// WIREHUB_VERSION is CMake's PROJECT_VERSION, defined for the targets that
// link wirehub::version (common/CMakeLists.txt).
#ifndef WIREHUB_VERSION
#error "WIREHUB_VERSION is not defined: link the target wirehub::version"
#endif

namespace wirehub {

// kVersion
//
// "MAJOR.MINOR.PATCH" of this build, from project(wirehub VERSION ...).
inline constexpr char kVersion[] = WIREHUB_VERSION;

}  // namespace wirehub

#endif  // WIREHUB_COMMON_VERSION_H_
