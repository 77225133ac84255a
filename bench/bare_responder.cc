// bare_responder: the plain Boost.Beast HTTP ceiling for Kiln's benchmarks.
//
// Answers every request with 200 and a fixed 2 KB body, keeping connections alive. It uses the
// threading model of src/http/server.cc (one io_context run by N threads, a strand and a
// timed beast::basic_stream per connection, one request in flight per connection, a reused read
// buffer) and nothing else, so Kiln's throughput divided by this one's is what Kiln's own work
// costs on the same machine. Standalone on purpose: no Kiln code, no routing, no logging.
//
// Usage: bare_responder [port=8081] [threads=2]
#include <algorithm>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core/basic_stream.hpp>
#include <boost/beast/core/bind_handler.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = net::ip::tcp;
using Strand = net::strand<net::io_context::executor_type>;
using Stream = beast::basic_stream<tcp, Strand>;
using Socket = tcp::socket::rebind_executor<Strand>::other;
using Acceptor = net::basic_socket_acceptor<tcp, Strand>;

constexpr std::chrono::seconds kTimeout{30};

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(Socket&& socket, const std::string& body) : stream_(std::move(socket)) {
    // Built once per connection and rewritten unchanged for every request.
    response_.result(http::status::ok);
    response_.version(11);
    response_.set(http::field::server, "bare");
    response_.set(http::field::content_type, "application/fhir+json");
    response_.body() = body;
    response_.prepare_payload();
  }

  void Start() {
    net::dispatch(stream_.get_executor(),
                  beast::bind_front_handler(&Session::Read, shared_from_this()));
  }

 private:
  void Read() {
    // A parser of our own rather than async_read into a message, which would allocate a parser
    // per request.
    parser_.emplace();
    stream_.expires_after(kTimeout);
    http::async_read(stream_, buffer_, *parser_,
                     beast::bind_front_handler(&Session::OnRead, shared_from_this()));
  }

  void OnRead(beast::error_code ec, size_t) {
    if (ec) return Close();
    response_.keep_alive(parser_->get().keep_alive());
    stream_.expires_after(kTimeout);
    http::async_write(stream_, response_,
                      beast::bind_front_handler(&Session::OnWrite, shared_from_this()));
  }

  void OnWrite(beast::error_code ec, size_t) {
    if (ec || !response_.keep_alive()) return Close();
    Read();
  }

  void Close() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream_.close();
  }

  Stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  http::response<http::string_body> response_;
};

class Listener {
 public:
  Listener(net::io_context& ioc, tcp::endpoint endpoint, const std::string& body)
      : ioc_(ioc), acceptor_(net::make_strand(ioc)), body_(body) {
    acceptor_.open(endpoint.protocol());
    acceptor_.set_option(net::socket_base::reuse_address(true));
    acceptor_.bind(endpoint);
    acceptor_.listen(net::socket_base::max_listen_connections);
  }

  void Accept() {
    acceptor_.async_accept(net::make_strand(ioc_), [this](beast::error_code ec, Socket socket) {
      if (!ec) {
        socket.set_option(tcp::no_delay(true), ec);
        std::make_shared<Session>(std::move(socket), body_)->Start();
      }
      if (acceptor_.is_open()) Accept();
    });
  }

 private:
  net::io_context& ioc_;
  Acceptor acceptor_;
  const std::string& body_;
};

}  // namespace

int main(int argc, char** argv) {
  const auto port = static_cast<unsigned short>(argc > 1 ? std::atoi(argv[1]) : 8081);
  const int threads = std::max(1, argc > 2 ? std::atoi(argv[2]) : 2);
  const std::string body(2048, 'x');
  try {
    net::io_context ioc(threads);
    Listener listener(ioc, tcp::endpoint(net::ip::make_address("127.0.0.1"), port), body);
    listener.Accept();
    net::signal_set signals(ioc, SIGINT, SIGTERM);
    signals.async_wait([&ioc](beast::error_code, int) { ioc.stop(); });
    std::fprintf(stderr, "bare_responder: listening on 127.0.0.1:%u with %d threads\n", port,
                 threads);
    std::vector<std::thread> pool;
    for (int i = 1; i < threads; ++i) pool.emplace_back([&ioc] { ioc.run(); });
    ioc.run();
    for (auto& t : pool) t.join();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bare_responder: %s\n", e.what());
    return 1;
  }
  return 0;
}
