// The Boost.Beast implementation of http/server.h. This is the only translation unit that includes
// Beast or Asio.
//
// Threading: one io_context run by options.io_threads threads. The acceptor and every connection
// (Session) live on their own strand, so a Session's members are only touched on its strand; the
// one exception is a Responder, which may run on any thread and therefore only posts onto the
// strand. Server-wide state shared across strands is atomic or guarded by a named mutex.
//
// A Session reads one request, hands it to the Handler, writes the response, and only then reads
// the next one; pipelined requests wait in the read buffer, so answers go out in order.
#include "http/server.h"

#include <algorithm>
#include <atomic>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/basic_stream.hpp>
#include <boost/beast/core/bind_handler.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/read_size.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_set>
#include <vector>

#include "core/log.h"
#include "core/thread_pool.h"
#include "http/message_util.h"

namespace kiln::http {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = net::ip::tcp;
using error_code = boost::system::error_code;
// A concrete strand type (not any_io_executor) spares a type-erased call on every operation.
using Strand = net::strand<net::io_context::executor_type>;
using Stream = beast::basic_stream<tcp, Strand>;
using Acceptor = net::basic_socket_acceptor<tcp, Strand>;
using Timer = net::basic_waitable_timer<std::chrono::steady_clock,
                                        net::wait_traits<std::chrono::steady_clock>, Strand>;
using Clock = std::chrono::steady_clock;

// First read buffer size; grows (up to kMaxReadChunk per read) only for larger requests.
constexpr size_t kInitialBuffer = 8192;
constexpr size_t kMaxReadChunk = 65536;
// After an answer that closes the connection, unread request bytes are drained for this long, so
// the kernel sends FIN rather than RST and the client gets to read the answer (e.g. a 413 sent
// while the client is still uploading).
constexpr std::chrono::milliseconds kLinger{1000};
// Pause before accepting again when out of file descriptors, instead of spinning.
constexpr std::chrono::milliseconds kAcceptBackoff{100};
constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";

thread_local const void* tls_io_thread_owner = nullptr;

bool IsParseError(const error_code& ec) {
  return ec.category() == bhttp::make_error_code(bhttp::error::bad_method).category();
}

// The answer to a handler failure: says what to quote when asking for help, and nothing else.
Response InternalError(std::string_view request_id) {
  Response response;
  response.status = 500;
  response.headers.emplace_back("Content-Type", "application/fhir+json");
  response.body = OperationOutcomeJson(
      "exception", "Internal server error; the server log has details under request id " +
                       std::string(request_id));
  response.interaction = "error";
  return response;
}

class ServerImpl;

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(ServerImpl& server, tcp::socket::rebind_executor<Strand>::other&& socket);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  Strand executor() { return stream_.get_executor(); }
  // On the strand: begins reading the first request.
  void Start();
  // On the strand: the server is stopping.
  void OnStop();
  // Any thread: hands the response for request number `seq` to the strand.
  static void Respond(const std::shared_ptr<Session>& self, uint64_t seq, Response&& response);

 private:
  // kReading covers both waiting for the next request and receiving one; kHandling is the handler
  // owning the request; kClosing is the drain after a final answer.
  enum class State { kReading, kHandling, kWriting, kClosing, kClosed };

  void ReadRequest(bool first);
  void OnFirstBytes(error_code ec, size_t bytes);
  void ParseHeader();
  void OnHeader(error_code ec, size_t bytes = 0);
  void ReadBody();
  void OnBody(error_code ec, size_t bytes = 0);
  void OnReadError(const error_code& ec);
  void OnRequest();
  void OnResponse(uint64_t seq, Response&& response);
  void SendError(int status, std::string_view issue_code, std::string diagnostics);
  void Write();
  void OnWrite(error_code ec, size_t bytes);
  void CloseGracefully();
  void Drain();
  void CloseNow();

  ServerImpl& server_;
  Stream stream_;
  beast::flat_buffer buffer_;  // reused for every request on this connection
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;  // a parser parses once
  bhttp::response<bhttp::string_body> response_;
  State state_ = State::kReading;
  bool counted_ = true;     // still counted in open_connections
  bool idle_wait_ = false;  // the pending first read is a keep-alive wait (idle_timeout)
  bool close_after_write_ = false;
  bool keep_alive_ = true;
  bool head_ = false;
  unsigned version_ = 11;
  uint64_t seq_ = 0;  // number of the request being handled; guards against stale Responders
  Clock::time_point received_;
  std::string remote_address_;
  // Kept for the response header and the observer after the Request has moved to the handler;
  // assigned in place so their capacity is reused from request to request.
  std::string request_id_;
  std::string method_;
  std::string target_;
  std::string interaction_;
  size_t response_bytes_ = 0;
  int status_ = 0;
};

class ServerImpl final : public Server {
 public:
  ServerImpl(const ServerOptions& options, Handler& handler, RequestObserver observer)
      : options_(options),
        handler_(handler),
        observer_(std::move(observer)),
        ioc_(options.io_threads > 0 ? options.io_threads : 1),
        acceptor_(net::make_strand(ioc_)),
        accept_timer_(acceptor_.get_executor()),
        work_(ioc_.get_executor()) {}

  ~ServerImpl() override {
    Stop();
    if (stopper_.joinable()) stopper_.join();
  }

  Status Start() override;
  uint16_t port() const override { return port_; }
  void Wait() override {
    std::unique_lock<std::mutex> lock(mu_);
    stopped_cv_.wait(lock, [this] { return stopped_; });
  }
  void Stop() override;
  int64_t open_connections() const override { return open_connections_.load(); }

  const ServerOptions& options() const { return options_; }
  Handler& handler() { return handler_; }
  const RequestObserver& observer() const { return observer_; }
  bool stopping() const { return stopping_.load(std::memory_order_acquire); }

  void Register(Session* session) {
    std::lock_guard<std::mutex> lock(sessions_mu_);
    sessions_.insert(session);
  }
  void Unregister(Session* session) {
    std::lock_guard<std::mutex> lock(sessions_mu_);
    sessions_.erase(session);
  }
  void OnConnectionClosed() {
    if (open_connections_.fetch_sub(1) == 1 && stopping()) {
      // Taking the mutex orders this notify after the waiter's predicate check: no lost wake-up.
      std::lock_guard<std::mutex> lock(mu_);
      drained_cv_.notify_all();
    }
  }

 private:
  void DoAccept();
  void OnAccept(error_code ec, tcp::socket::rebind_executor<Strand>::other socket);
  void RejectBusy(tcp::socket::rebind_executor<Strand>::other& socket);
  void RunStop();

  // Declaration order matters for destruction: ioc_ is destroyed after the acceptor and timers
  // that use it, and before the mutexes and the registry that Sessions (destroyed with the
  // io_context's pending handlers) still touch.
  const ServerOptions options_;
  Handler& handler_;
  const RequestObserver observer_;

  std::mutex mu_;  // guards started_, stop_requested_, stopped_; pairs with both condvars
  std::condition_variable stopped_cv_;
  std::condition_variable drained_cv_;
  bool started_ = false;
  bool stop_requested_ = false;
  bool stopped_ = false;

  std::mutex sessions_mu_;  // guards sessions_
  std::unordered_set<Session*> sessions_;

  std::atomic<int64_t> open_connections_{0};
  std::atomic<bool> stopping_{false};
  uint16_t port_ = 0;

  net::io_context ioc_;
  Acceptor acceptor_;
  Timer accept_timer_;
  net::executor_work_guard<net::io_context::executor_type> work_;
  std::vector<std::thread> threads_;
  std::thread stopper_;
};

// ---- Session -----------------------------------------------------------------------------------

Session::Session(ServerImpl& server, tcp::socket::rebind_executor<Strand>::other&& socket)
    : server_(server), stream_(std::move(socket)) {}

Session::~Session() {
  // Reached with counted_ set only when the last Responder was dropped unanswered or the server
  // discarded pending work at shutdown; the socket closes with stream_.
  if (counted_) server_.OnConnectionClosed();
  server_.Unregister(this);
}

void Session::Start() {
  error_code ec;
  auto endpoint = stream_.socket().remote_endpoint(ec);
  if (!ec) remote_address_ = endpoint.address().to_string();
  buffer_.reserve(kInitialBuffer);
  ReadRequest(/*first=*/true);
}

void Session::ReadRequest(bool first) {
  if (server_.stopping()) return CloseNow();
  state_ = State::kReading;
  parser_.emplace();
  parser_->header_limit(
      static_cast<uint32_t>(std::min<size_t>(server_.options().max_header_bytes, UINT32_MAX)));
  parser_->body_limit(server_.options().max_body_bytes);
  if (buffer_.size() > 0) {  // a pipelined request is already here
    stream_.expires_after(server_.options().read_timeout);
    received_ = Clock::now();
    return ParseHeader();
  }
  // The first request must arrive whole within read_timeout of the accept; later ones may keep
  // the connection idle for idle_timeout, then get read_timeout from their first byte.
  stream_.expires_after(first ? server_.options().read_timeout : server_.options().idle_timeout);
  idle_wait_ = !first;
  stream_.async_read_some(buffer_.prepare(beast::read_size(buffer_, kMaxReadChunk)),
                          beast::bind_front_handler(&Session::OnFirstBytes, shared_from_this()));
}

void Session::OnFirstBytes(error_code ec, size_t bytes) {
  if (state_ != State::kReading) return;
  if (ec) return CloseNow();  // idle or read timeout, EOF, reset: nothing to answer
  buffer_.commit(bytes);
  if (idle_wait_) stream_.expires_after(server_.options().read_timeout);
  received_ = Clock::now();
  ParseHeader();
}

void Session::ParseHeader() {
  // Parse what is buffered without another trip through the io_context: a small request usually
  // arrives in one segment. Only an incomplete header goes to Beast's asynchronous reader, which
  // keeps the deadline set above, so a trickling client is cut off at read_timeout.
  error_code ec;
  parser_->eager(false);
  buffer_.consume(parser_->put(buffer_.data(), ec));
  if (ec == bhttp::error::need_more) {
    return bhttp::async_read_header(
        stream_, buffer_, *parser_,
        beast::bind_front_handler(&Session::OnHeader, shared_from_this()));
  }
  OnHeader(ec);
}

void Session::OnHeader(error_code ec, size_t /*bytes*/) {
  if (state_ != State::kReading) return;
  if (ec) return OnReadError(ec);
  if (parser_->is_done()) return OnRequest();
  // A body follows. Its declared length already passed body_limit (the parser checks
  // Content-Length as the header completes), so now is the time to invite it.
  auto& message = parser_->get();
  auto expect = message[bhttp::field::expect];
  if (message.version() >= 11 && buffer_.size() == 0 && expect.size() == 12 &&
      beast::iequals(expect, "100-continue")) {
    net::async_write(stream_, net::buffer(kContinue.data(), kContinue.size()),
                     [self = shared_from_this()](error_code ec, size_t) {
                       if (self->state_ != State::kReading) return;
                       if (ec) return self->CloseNow();
                       self->ReadBody();
                     });
    return;
  }
  ReadBody();
}

void Session::ReadBody() {
  parser_->eager(true);
  if (buffer_.size() > 0) {
    error_code ec;
    buffer_.consume(parser_->put(buffer_.data(), ec));
    if (ec && ec != bhttp::error::need_more) return OnReadError(ec);
    if (parser_->is_done()) return OnRequest();
  }
  bhttp::async_read(stream_, buffer_, *parser_,
                    beast::bind_front_handler(&Session::OnBody, shared_from_this()));
}

void Session::OnBody(error_code ec, size_t /*bytes*/) {
  if (state_ != State::kReading) return;
  if (ec) return OnReadError(ec);
  OnRequest();
}

void Session::OnReadError(const error_code& ec) {
  const ServerOptions& options = server_.options();
  if (ec == bhttp::error::body_limit) {
    return SendError(
        413, "too-long",
        "Request body exceeds the limit of " + std::to_string(options.max_body_bytes) + " bytes");
  }
  if (ec == bhttp::error::header_limit) {
    return SendError(431, "too-long",
                     "Request header block exceeds the limit of " +
                         std::to_string(options.max_header_bytes) + " bytes");
  }
  // A client that went away or ran out of time gets no answer: the socket is gone or closed.
  if (ec == bhttp::error::end_of_stream || ec == bhttp::error::partial_message ||
      !IsParseError(ec)) {
    return CloseNow();
  }
  SendError(400, "structure", "Malformed HTTP request: " + ec.message());
}

void Session::OnRequest() {
  state_ = State::kHandling;
  ++seq_;
  auto& message = parser_->get();
  keep_alive_ = message.keep_alive();
  version_ = message.version();
  head_ = message.method() == bhttp::verb::head;

  Request request;
  request.method.assign(message.method_string());
  request.target.assign(message.target());
  size_t count = 0;
  for (auto it = message.begin(); it != message.end(); ++it) ++count;
  request.headers.reserve(count);
  std::string_view client_id;
  for (const auto& field : message) {
    request.headers.emplace_back(field.name_string(), field.value());
    if (client_id.empty() && beast::iequals(field.name_string(), "x-request-id")) {
      client_id = field.value();
    }
  }
  request.request_id = IsSaneRequestId(client_id) ? std::string(client_id) : NewRequestId();
  request.body = std::move(message.body());
  request.remote_address = remote_address_;
  request.received = received_;
  request_id_.assign(request.request_id);
  if (server_.observer()) {
    method_.assign(request.method);
    target_.assign(request.target);
  }
  parser_.reset();  // frees the header fields while the handler works

  const uint64_t seq = seq_;
  Responder respond = [self = shared_from_this(), seq](Response&& response) {
    Respond(self, seq, std::move(response));
  };
  try {
    server_.handler().Handle(std::move(request), std::move(respond));
  } catch (const std::exception& e) {
    core::LogError("handler threw", {{"request_id", std::string_view(request_id_)},
                                     {"error", std::string_view(e.what())}});
    OnResponse(seq, InternalError(request_id_));  // ignored if the handler answered already
  } catch (...) {
    core::LogError("handler threw",
                   {{"request_id", std::string_view(request_id_)}, {"error", "unknown exception"}});
    OnResponse(seq, InternalError(request_id_));
  }
}

void Session::Respond(const std::shared_ptr<Session>& self, uint64_t seq, Response&& response) {
  // dispatch runs inline when the handler answers on the I/O thread that called it (no extra
  // queueing for fast handlers), and queues onto the strand from any other thread.
  net::dispatch(self->stream_.get_executor(),
                [self, seq, response = std::move(response)]() mutable {
                  self->OnResponse(seq, std::move(response));
                });
}

void Session::OnResponse(uint64_t seq, Response&& response) {
  // Late (connection closed, server stopped) or duplicate answers are dropped.
  if (state_ != State::kHandling || seq != seq_) return;

  if (response.status < 100 || response.status > 599) {
    core::LogError("handler answered with an invalid status",
                   {{"request_id", std::string_view(request_id_)},
                    {"status", static_cast<long long>(response.status)}});
    response = InternalError(request_id_);
  }
  const int status = response.status;
  close_after_write_ = response.close || !keep_alive_ || server_.stopping();

  response_ = {};
  response_.version(version_);
  response_.result(static_cast<unsigned>(status));
  for (const auto& [name, value] : response.headers) {
    if (!IsHeaderName(name) || !IsSafeHeaderText(value)) {
      core::LogError(
          "handler set an unsafe response header; dropped",
          {{"request_id", std::string_view(request_id_)}, {"header", std::string_view(name)}});
      continue;
    }
    response_.insert(name, value);
  }
  response_.set(bhttp::field::date, HttpDateNow());
  response_.set(bhttp::field::server, "kiln");
  response_.set("X-Request-Id", request_id_);
  if (close_after_write_) {
    response_.set(bhttp::field::connection, "close");
  } else if (version_ < 11) {
    response_.set(bhttp::field::connection, "keep-alive");
  }
  response_bytes_ = response.body.size();
  if (status < 200 || status == 204 || status == 304) {
    response_bytes_ = 0;  // these never carry a body (nor, here, a Content-Length)
  } else if (head_) {
    response_.content_length(response.body.size());  // what a GET would send; no body follows
    response_bytes_ = 0;
  } else {
    response_.content_length(response.body.size());
    response_.body() = std::move(response.body);
  }
  status_ = status;
  interaction_ = std::move(response.interaction);
  Write();
}

void Session::SendError(int status, std::string_view issue_code, std::string diagnostics) {
  // Answered by the server itself, before any handler: the request is (partly) unread, so the
  // connection cannot be trusted for another request and closes after this answer.
  ++seq_;
  close_after_write_ = true;
  version_ = 11;
  method_.clear();
  target_.clear();
  std::string_view client_id;
  if (parser_ && parser_->is_header_done()) {
    const auto& message = parser_->get();
    method_.assign(message.method_string());
    target_.assign(message.target());
    client_id = message["X-Request-Id"];
  }
  if (IsSaneRequestId(client_id)) {
    request_id_.assign(client_id);
  } else {
    request_id_ = NewRequestId();
  }
  if (received_ == Clock::time_point()) received_ = Clock::now();
  parser_.reset();

  response_ = {};
  response_.version(version_);
  response_.result(static_cast<unsigned>(status));
  response_.set(bhttp::field::content_type, "application/fhir+json");
  response_.set(bhttp::field::date, HttpDateNow());
  response_.set(bhttp::field::server, "kiln");
  response_.set("X-Request-Id", request_id_);
  response_.set(bhttp::field::connection, "close");
  response_.body() = OperationOutcomeJson(issue_code, diagnostics);
  response_bytes_ = response_.body().size();
  response_.content_length(response_bytes_);
  status_ = status;
  interaction_ = "rejected";
  Write();
}

void Session::Write() {
  state_ = State::kWriting;
  stream_.expires_after(server_.options().write_timeout);
  bhttp::async_write(stream_, response_,
                     beast::bind_front_handler(&Session::OnWrite, shared_from_this()));
}

void Session::OnWrite(error_code ec, size_t /*bytes*/) {
  if (state_ != State::kWriting) return;
  if (const auto& observer = server_.observer()) {
    RequestRecord record;
    record.method = method_;
    record.target = target_;
    record.request_id = request_id_;
    record.interaction = interaction_;
    record.status = status_;
    record.seconds = std::chrono::duration<double>(Clock::now() - received_).count();
    record.response_bytes = response_bytes_;
    try {
      observer(record);
    } catch (const std::exception& e) {
      core::LogError("request observer threw", {{"error", std::string_view(e.what())}});
    }
  }
  received_ = Clock::time_point();
  // Release a large body now rather than when the next response replaces it.
  std::string().swap(response_.body());
  if (ec) return CloseNow();
  if (close_after_write_) return CloseGracefully();
  ReadRequest(/*first=*/false);
}

void Session::CloseGracefully() {
  error_code ec;
  stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
  if (ec || server_.stopping()) return CloseNow();
  state_ = State::kClosing;
  buffer_.clear();
  stream_.expires_after(kLinger);
  Drain();
}

void Session::Drain() {
  // Reads and discards until the client closes its side or kLinger runs out.
  buffer_.clear();
  stream_.async_read_some(buffer_.prepare(kMaxReadChunk),
                          [self = shared_from_this()](error_code ec, size_t) {
                            if (self->state_ != State::kClosing) return;
                            if (ec) return self->CloseNow();
                            self->Drain();
                          });
}

void Session::CloseNow() {
  if (state_ == State::kClosed) return;
  state_ = State::kClosed;
  stream_.close();  // cancels pending operations; their handlers see kClosed and return
  parser_.reset();
  if (counted_) {
    counted_ = false;
    server_.OnConnectionClosed();
  }
}

void Session::OnStop() {
  // Connections between requests (or still receiving one: no handler has it yet) close now;
  // a request with the handler or a response being written finishes, with Connection: close.
  if (state_ == State::kReading || state_ == State::kClosing) CloseNow();
}

// ---- ServerImpl --------------------------------------------------------------------------------

Status ServerImpl::Start() {
  // Held throughout, so a concurrent Stop() sees either no server or a fully started one.
  std::lock_guard<std::mutex> lock(mu_);
  if (started_ || stop_requested_) return Status::Invalid("HTTP server already started");
  const std::string where = options_.host + ":" + std::to_string(options_.port);
  error_code ec;
  tcp::endpoint endpoint;
  auto address = net::ip::make_address(options_.host, ec);
  if (!ec) {
    endpoint = tcp::endpoint(address, options_.port);
  } else {
    tcp::resolver resolver(ioc_);
    auto results =
        resolver.resolve(options_.host, std::to_string(options_.port), tcp::resolver::passive, ec);
    if (ec || results.empty()) {
      return Status::Unavailable("Cannot resolve HTTP listen address " + where + ": " +
                                 (ec ? ec.message() : "no address"));
    }
    endpoint = results.begin()->endpoint();
  }
  auto fail = [&](const char* step) {
    error_code ignored;
    acceptor_.close(ignored);
    return Status::Unavailable(std::string("Cannot listen on ") + where + " (" + step +
                               "): " + ec.message());
  };
  acceptor_.open(endpoint.protocol(), ec);
  if (ec) return fail("open");
  acceptor_.set_option(net::socket_base::reuse_address(true), ec);
  if (ec) return fail("reuse_address");
  acceptor_.bind(endpoint, ec);
  if (ec) return fail("bind");
  acceptor_.listen(net::socket_base::max_listen_connections, ec);
  if (ec) return fail("listen");
  port_ = acceptor_.local_endpoint(ec).port();

  net::post(acceptor_.get_executor(), [this] { DoAccept(); });
  const int thread_count = options_.io_threads > 0 ? options_.io_threads : 1;
  threads_.reserve(thread_count);
  for (int i = 0; i < thread_count; ++i) {
    threads_.emplace_back([this] {
      core::SetCurrentThreadName("kiln-io");
      tls_io_thread_owner = this;
      for (;;) {
        try {
          ioc_.run();
          break;
        } catch (const std::exception& e) {
          // Keep serving: one bad connection is not a reason to lose an I/O thread.
          core::LogError("HTTP I/O thread caught", {{"error", std::string_view(e.what())}});
        }
      }
    });
  }
  started_ = true;
  return Status::Ok();
}

void ServerImpl::DoAccept() {
  acceptor_.async_accept(net::make_strand(ioc_),
                         beast::bind_front_handler(&ServerImpl::OnAccept, this));
}

void ServerImpl::OnAccept(error_code ec, tcp::socket::rebind_executor<Strand>::other socket) {
  if (ec) {
    if (ec == net::error::operation_aborted || !acceptor_.is_open()) return;
    core::LogWarn("HTTP accept failed", {{"error", std::string_view(ec.message())}});
    // Out of descriptors or memory: give closing connections a moment instead of spinning.
    accept_timer_.expires_after(kAcceptBackoff);
    accept_timer_.async_wait([this](error_code wait_ec) {
      if (!wait_ec && acceptor_.is_open()) DoAccept();
    });
    return;
  }
  if (stopping()) {
    error_code ignored;
    socket.close(ignored);
    return;
  }
  if (open_connections_.load() >= options_.max_connections) {
    RejectBusy(socket);
    return DoAccept();
  }
  error_code ignored;
  socket.set_option(tcp::no_delay(true), ignored);
  open_connections_.fetch_add(1);
  auto session = std::make_shared<Session>(*this, std::move(socket));
  Register(session.get());
  net::dispatch(session->executor(), [session] { session->Start(); });
  DoAccept();
}

void ServerImpl::RejectBusy(tcp::socket::rebind_executor<Strand>::other& socket) {
  // Best effort and never blocking: a fresh socket's send buffer takes these few bytes at once.
  std::string body = OperationOutcomeJson("transient", "Too many open connections; retry later");
  std::string text =
      "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/fhir+json\r\n"
      "Server: kiln\r\nRetry-After: 1\r\nConnection: close\r\nDate: ";
  text += HttpDateNow();
  text += "\r\nX-Request-Id: " + NewRequestId();
  text += "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  error_code ignored;
  socket.non_blocking(true, ignored);
  socket.write_some(net::buffer(text), ignored);
  socket.shutdown(tcp::socket::shutdown_send, ignored);
  socket.close(ignored);
}

void ServerImpl::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!started_) {
      stop_requested_ = true;
      stopped_ = true;
      stopped_cv_.notify_all();
      return;
    }
    if (!stop_requested_) {
      stop_requested_ = true;
      // Set before returning, so every answer that follows (even one the calling handler is
      // about to give) says Connection: close.
      stopping_.store(true, std::memory_order_release);
      // A thread of its own, so a Stop() from an I/O thread can return while the stop proceeds.
      stopper_ = std::thread([this] { RunStop(); });
    }
  }
  if (tls_io_thread_owner == this) return;
  Wait();
}

void ServerImpl::RunStop() {
  net::post(acceptor_.get_executor(), [this] {
    error_code ignored;
    acceptor_.close(ignored);
    accept_timer_.cancel();
  });
  std::vector<std::shared_ptr<Session>> sessions;
  {
    std::lock_guard<std::mutex> lock(sessions_mu_);
    sessions.reserve(sessions_.size());
    for (Session* session : sessions_) {
      // A Session whose destructor is waiting for sessions_mu_ yields an empty pointer here.
      if (auto alive = session->weak_from_this().lock()) sessions.push_back(std::move(alive));
    }
  }
  // Outside the lock: dropping the last reference to a Session runs its destructor, which takes
  // sessions_mu_.
  for (auto& session : sessions) {
    net::post(session->executor(), [session] { session->OnStop(); });
  }
  sessions.clear();
  {
    std::unique_lock<std::mutex> lock(mu_);
    drained_cv_.wait_for(lock, options_.shutdown_grace,
                         [this] { return open_connections_.load() == 0; });
  }
  work_.reset();
  ioc_.stop();
  for (auto& thread : threads_) thread.join();
  std::lock_guard<std::mutex> lock(mu_);
  stopped_ = true;
  stopped_cv_.notify_all();
}

}  // namespace

std::unique_ptr<Server> MakeServer(const ServerOptions& options, Handler& handler,
                                   RequestObserver observer) {
  return std::make_unique<ServerImpl>(options, handler, std::move(observer));
}

}  // namespace kiln::http
