#include "mcpgw/mcp/protocol_version.h"

#include "gtest/gtest.h"

namespace mcpgw::mcp {
namespace {

TEST(ProtocolVersion, ParseAndPrint) {
  for (ProtocolVersion v : kSupportedProtocolVersions) {
    EXPECT_EQ(ParseProtocolVersion(ToString(v)), v);
  }
  EXPECT_EQ(ParseProtocolVersion("2024-10-07"), std::nullopt);
  EXPECT_EQ(ParseProtocolVersion("2026-07-28"), std::nullopt);
  EXPECT_EQ(ParseProtocolVersion(""), std::nullopt);
}

TEST(ProtocolVersion, NegotiationEchoesSupportedAndOffersLatestOtherwise) {
  EXPECT_EQ(NegotiateVersion("2024-11-05"), ProtocolVersion::k2024_11_05);
  EXPECT_EQ(NegotiateVersion("2025-03-26"), ProtocolVersion::k2025_03_26);
  EXPECT_EQ(NegotiateVersion("2025-06-18"), ProtocolVersion::k2025_06_18);
  EXPECT_EQ(NegotiateVersion("2025-11-25"), ProtocolVersion::k2025_11_25);
  EXPECT_EQ(NegotiateVersion("2099-01-01"), kLatestProtocolVersion);
  EXPECT_EQ(NegotiateVersion("garbage"), kLatestProtocolVersion);
}

TEST(ProtocolVersion, BatchesOnlyAt20250326) {
  EXPECT_FALSE(Supports(ProtocolVersion::k2024_11_05, Feature::kJsonRpcBatches));
  EXPECT_TRUE(Supports(ProtocolVersion::k2025_03_26, Feature::kJsonRpcBatches));
  EXPECT_FALSE(Supports(ProtocolVersion::k2025_06_18, Feature::kJsonRpcBatches));
  EXPECT_FALSE(Supports(ProtocolVersion::k2025_11_25, Feature::kJsonRpcBatches));
}

TEST(ProtocolVersion, FeaturesAppearInTheirRevision) {
  struct Case {
    Feature feature;
    ProtocolVersion first;
  } cases[] = {
      {Feature::kAudioContent, ProtocolVersion::k2025_03_26},
      {Feature::kToolAnnotations, ProtocolVersion::k2025_03_26},
      {Feature::kCompletionsCapability, ProtocolVersion::k2025_03_26},
      {Feature::kElicitation, ProtocolVersion::k2025_06_18},
      {Feature::kStructuredContent, ProtocolVersion::k2025_06_18},
      {Feature::kResourceLinks, ProtocolVersion::k2025_06_18},
      {Feature::kProtocolVersionHeader, ProtocolVersion::k2025_06_18},
      {Feature::kIcons, ProtocolVersion::k2025_11_25},
      {Feature::kTasks, ProtocolVersion::k2025_11_25},
      {Feature::kUrlElicitation, ProtocolVersion::k2025_11_25},
      {Feature::kSsePriming, ProtocolVersion::k2025_11_25},
  };
  for (const Case& c : cases) {
    for (ProtocolVersion v : kSupportedProtocolVersions) {
      EXPECT_EQ(Supports(v, c.feature), v >= c.first)
          << "feature " << static_cast<int>(c.feature) << " at " << ToString(v);
    }
  }
}

}  // namespace
}  // namespace mcpgw::mcp
