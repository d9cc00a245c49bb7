// What the request tests of both codecs share: LeNet's serving config and a model whose
// shape rule rejects small images, to validate requests against without loading weights.
#pragma once

#include <memory>

#include "core/model.h"
#include "gtest/gtest.h"
#include "server/config/model_config.h"

namespace seqserve::testing {

// LeNet's serving config: one [1, 28, 28] input, batching up to 64.
inline ServingConfig LenetConfig() {
  ServingConfig config;
  config.input_name = "input";
  config.output_name = "output";
  config.input_dims = {1, 28, 28};
  config.output_dims = {10};
  config.max_batch_size = 64;
  return config;
}

// A model without parameters whose shape rule rejects small images: MaxPool2d(4) needs at
// least 4x4.
inline std::shared_ptr<Model> PoolModel() {
  auto model = Model::FromSource("nn.Sequential(nn.MaxPool2d(4), nn.Flatten())", "model.seq",
                                 nullptr, "model.safetensors");
  EXPECT_TRUE(model.ok()) << model.status();
  return *model;
}

}  // namespace seqserve::testing
