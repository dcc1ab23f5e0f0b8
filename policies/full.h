#pragma once
#include "policies/policy.h"

namespace lil {

class FullPolicy final : public Policy {
 public:
  explicit FullPolicy(const PolicyGeometry& geometry);
  std::string name() const override { return "full"; }
  PolicyKind kind() const override { return PolicyKind::Full; }
};

}  // namespace lil
