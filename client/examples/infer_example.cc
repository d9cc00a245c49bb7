// A minimal user of the seqserve::client library: checks the server, then sends one tensor
// of ones to a model and prints the output's shape and first value.
//   infer_example [URL [MODEL [SHAPE]]]     e.g. infer_example localhost:8001 lenet 1,1,28,28
#include <cstdlib>
#include <iostream>
#include <sstream>
#include <string>

#include "client/client.h"

int main(int argc, char** argv) {
  const std::string url = argc > 1 ? argv[1] : "localhost:8001";
  const std::string model = argc > 2 ? argv[2] : "lenet";
  seqserve::Shape shape;
  std::istringstream dims(argc > 3 ? argv[3] : "1,1,28,28");
  for (std::string d; std::getline(dims, d, ',');) shape.push_back(std::stoll(d));

  auto client = seqserve::client::Client::Create(url);
  if (!client.ok()) {
    std::cerr << "error: " << client.status() << "\n";
    return 1;
  }
  absl::StatusOr<bool> ready = (*client)->ServerReady();
  if (!ready.ok()) {
    std::cerr << "error: " << ready.status() << "\n";
    return 1;
  }
  seqserve::Tensor input(shape);
  for (float& v : input.data) v = 1.0f;
  absl::StatusOr<seqserve::Tensor> output = (*client)->Infer(model, input);
  if (!output.ok()) {
    std::cerr << "error: " << output.status() << "\n";
    return 1;
  }
  std::cout << model << " -> " << seqserve::ShapeToString(output->shape) << ", first value "
            << (output->data.empty() ? 0.0f : output->data[0]) << "\n";
  return 0;
}
