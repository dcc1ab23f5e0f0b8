// full: dense attention over every cached token (the reference every sparse policy is compared with).
#include "policies/full.h"

namespace lil {

FullPolicy::FullPolicy(const PolicyGeometry& geometry) : Policy(0, geometry) {}

}  // namespace lil
