// The guest's Redis service (kernel/resp.h): requests as redis-cli and redis-benchmark send
// them, whole, pipelined and split; every command; the errors; the table's limits.
#include "kernel/resp.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <string>

#include "resp_test_support.h"

namespace testsvc::kernel::resp {
namespace {

using testing::Array;
using testing::Output;

class RespTest : public ::testing::Test {
 protected:
  // Serves `input` as one read; the unconsumed rest stays in pending_.
  ServeResult Feed(const std::string& input, bool full = false) {
    pending_ += input;
    const ServeResult result = Serve(reinterpret_cast<const uint8_t*>(pending_.data()),
                                     pending_.size(), full, *store_, out_);
    pending_.erase(0, result.consumed);
    return result;
  }
  // The reply to one request, sent as an array.
  std::string Run(std::initializer_list<std::string> args) {
    out_.text.clear();
    const ServeResult result = Feed(Array(args));
    EXPECT_TRUE(pending_.empty());
    EXPECT_FALSE(result.blocked);
    return out_.text;
  }

  std::unique_ptr<Store> store_ = std::make_unique<Store>();
  Output out_;
  std::string pending_;
};

// ---- Commands ---------------------------------------------------------------------------

TEST_F(RespTest, Ping) {
  EXPECT_EQ(Run({"PING"}), "+PONG\r\n");
  EXPECT_EQ(Run({"ping", "hi there"}), "$8\r\nhi there\r\n");
  EXPECT_EQ(Run({"PING", "a", "b"}), "-ERR wrong number of arguments for 'ping' command\r\n");
}

TEST_F(RespTest, Echo) {
  EXPECT_EQ(Run({"ECHO", "hello"}), "$5\r\nhello\r\n");
  EXPECT_EQ(Run({"echo", ""}), "$0\r\n\r\n");
  EXPECT_EQ(Run({"ECHO"}), "-ERR wrong number of arguments for 'echo' command\r\n");
}

TEST_F(RespTest, SetAndGet) {
  EXPECT_EQ(Run({"GET", "a"}), "$-1\r\n");
  EXPECT_EQ(Run({"SET", "a", "1"}), "+OK\r\n");
  EXPECT_EQ(Run({"GET", "a"}), "$1\r\n1\r\n");
  EXPECT_EQ(Run({"set", "a", std::string("bin\0\r\nary", 9)}), "+OK\r\n");
  EXPECT_EQ(Run({"Get", "a"}), std::string("$9\r\nbin\0\r\nary\r\n", 15));
  EXPECT_EQ(Run({"SET", "a"}), "-ERR wrong number of arguments for 'set' command\r\n");
  EXPECT_EQ(Run({"SET", "a", "1", "EX", "10"}), "-ERR syntax error\r\n");
  EXPECT_EQ(Run({"GET"}), "-ERR wrong number of arguments for 'get' command\r\n");
  EXPECT_EQ(Run({"GET", "a", "b"}), "-ERR wrong number of arguments for 'get' command\r\n");
}

TEST_F(RespTest, Incr) {
  EXPECT_EQ(Run({"INCR", "n"}), ":1\r\n");  // a missing key starts at 0
  EXPECT_EQ(Run({"INCR", "n"}), ":2\r\n");
  EXPECT_EQ(Run({"GET", "n"}), "$1\r\n2\r\n");
  EXPECT_EQ(Run({"INCRBY", "n", "-12"}), ":-10\r\n");
  EXPECT_EQ(Run({"INCRBY", "m", "5"}), ":5\r\n");
  EXPECT_EQ(Run({"INCRBY", "n", "x"}), "-ERR value is not an integer or out of range\r\n");
  EXPECT_EQ(Run({"INCRBY", "n", "01"}), "-ERR value is not an integer or out of range\r\n");
  EXPECT_EQ(Run({"INCRBY", "n"}), "-ERR wrong number of arguments for 'incrby' command\r\n");
  EXPECT_EQ(Run({"SET", "s", "abc"}), "+OK\r\n");
  EXPECT_EQ(Run({"INCR", "s"}), "-ERR value is not an integer or out of range\r\n");
  EXPECT_EQ(Run({"SET", "s", " 1"}), "+OK\r\n");
  EXPECT_EQ(Run({"INCR", "s"}), "-ERR value is not an integer or out of range\r\n");
}

TEST_F(RespTest, IncrIs64BitWithOverflowChecked) {
  EXPECT_EQ(Run({"SET", "big", "9223372036854775806"}), "+OK\r\n");
  EXPECT_EQ(Run({"INCR", "big"}), ":9223372036854775807\r\n");
  EXPECT_EQ(Run({"INCR", "big"}), "-ERR increment or decrement would overflow\r\n");
  EXPECT_EQ(Run({"GET", "big"}), "$19\r\n9223372036854775807\r\n");  // unchanged
  EXPECT_EQ(Run({"SET", "small", "-9223372036854775807"}), "+OK\r\n");
  EXPECT_EQ(Run({"INCRBY", "small", "-1"}), ":-9223372036854775808\r\n");
  EXPECT_EQ(Run({"INCRBY", "small", "-1"}), "-ERR increment or decrement would overflow\r\n");
  EXPECT_EQ(Run({"SET", "huge", "9223372036854775808"}), "+OK\r\n");
  EXPECT_EQ(Run({"INCR", "huge"}), "-ERR value is not an integer or out of range\r\n");
}

TEST_F(RespTest, DelExistsDbsizeFlushall) {
  Run({"SET", "a", "1"});
  Run({"SET", "b", "2"});
  Run({"SET", "c", "3"});
  EXPECT_EQ(Run({"DBSIZE"}), ":3\r\n");
  EXPECT_EQ(Run({"EXISTS", "a", "a", "x"}), ":2\r\n");  // counted as often as named
  EXPECT_EQ(Run({"DEL", "a", "x", "b"}), ":2\r\n");
  EXPECT_EQ(Run({"DEL", "a"}), ":0\r\n");
  EXPECT_EQ(Run({"EXISTS", "a"}), ":0\r\n");
  EXPECT_EQ(Run({"DBSIZE"}), ":1\r\n");
  EXPECT_EQ(Run({"FLUSHALL"}), "+OK\r\n");
  EXPECT_EQ(Run({"DBSIZE"}), ":0\r\n");
  EXPECT_EQ(Run({"GET", "c"}), "$-1\r\n");
  EXPECT_EQ(Run({"FLUSHALL", "async"}), "+OK\r\n");
  EXPECT_EQ(Run({"FLUSHALL", "now"}), "-ERR syntax error\r\n");
  EXPECT_EQ(Run({"DEL"}), "-ERR wrong number of arguments for 'del' command\r\n");
  EXPECT_EQ(Run({"EXISTS"}), "-ERR wrong number of arguments for 'exists' command\r\n");
  EXPECT_EQ(Run({"DBSIZE", "x"}), "-ERR wrong number of arguments for 'dbsize' command\r\n");
}

TEST_F(RespTest, ConfigGetAndCommand) {
  EXPECT_EQ(Run({"CONFIG", "GET", "save"}), "*2\r\n$4\r\nsave\r\n$0\r\n\r\n");
  EXPECT_EQ(Run({"config", "get", "appendonly"}), "*2\r\n$10\r\nappendonly\r\n$0\r\n\r\n");
  EXPECT_EQ(Run({"CONFIG", "GET", "maxmemory"}), "*0\r\n");
  EXPECT_EQ(Run({"CONFIG", "GET", "save", "appendonly"}),
            "*4\r\n$4\r\nsave\r\n$0\r\n\r\n$10\r\nappendonly\r\n$0\r\n\r\n");
  EXPECT_EQ(Run({"CONFIG", "GET"}), "-ERR wrong number of arguments for 'config|get' command\r\n");
  EXPECT_EQ(Run({"CONFIG", "SET", "save", ""}).substr(0, 5), "-ERR ");
  EXPECT_EQ(Run({"COMMAND", "DOCS"}), "*0\r\n");
  EXPECT_EQ(Run({"COMMAND"}), "*0\r\n");
}

TEST_F(RespTest, QuitRepliesAndCloses) {
  const ServeResult result = Feed(Array({"QUIT"}) + Array({"PING"}));
  EXPECT_TRUE(result.close);
  EXPECT_EQ(out_.text, "+OK\r\n");  // nothing after QUIT is run
}

TEST_F(RespTest, UnknownCommands) {
  EXPECT_EQ(Run({"FOO", "bar"}), "-ERR unknown command 'FOO'\r\n");
  EXPECT_EQ(Run({"GE\r\nT"}), "-ERR unknown command 'GE  T'\r\n");  // no line break in a reply
  const std::string reply = Run({std::string(500, 'x')});
  EXPECT_EQ(reply, "-ERR unknown command '" + std::string(kMaxNameInError, 'x') + "'\r\n");
}

// ---- The protocol -----------------------------------------------------------------------

TEST_F(RespTest, InlineCommands) {
  EXPECT_FALSE(Feed("PING\r\n").close);
  EXPECT_EQ(out_.text, "+PONG\r\n");
  out_.text.clear();
  Feed("set  k\tv\nGET k\r\n\r\n   \r\n");  // blank lines are skipped
  EXPECT_EQ(out_.text, "+OK\r\n$1\r\nv\r\n");
  EXPECT_TRUE(pending_.empty());
}

TEST_F(RespTest, PipelinedRequestsAreAnsweredInOrder) {
  std::string input;
  for (int i = 0; i < 16; ++i) input += Array({"INCR", "counter"});
  input += "PING\r\n" + Array({"GET", "counter"});
  Feed(input);
  std::string expected;
  for (int i = 1; i <= 16; ++i) expected += ":" + std::to_string(i) + "\r\n";
  expected += "+PONG\r\n$2\r\n16\r\n";
  EXPECT_EQ(out_.text, expected);
  EXPECT_TRUE(pending_.empty());
}

TEST_F(RespTest, RequestsSplitAnywhereWaitForTheRest) {
  const std::string input =
      Array({"SET", "key:000000000042", "xxx"}) + "PING\r\n" + Array({"GET", "key:000000000042"});
  const std::string expected = "+OK\r\n+PONG\r\n$3\r\nxxx\r\n";
  for (size_t cut = 0; cut <= input.size(); ++cut) {
    store_->Clear();
    out_.text.clear();
    pending_.clear();
    Feed(input.substr(0, cut));
    Feed(input.substr(cut));
    EXPECT_EQ(out_.text, expected) << "cut at " << cut;
    EXPECT_TRUE(pending_.empty()) << cut;
  }
  // Byte by byte.
  store_->Clear();
  out_.text.clear();
  for (char c : input) Feed(std::string(1, c));
  EXPECT_EQ(out_.text, expected);
}

TEST_F(RespTest, EmptyArraysAreSkipped) {
  Feed("*0\r\n*-1\r\n" + Array({"PING"}));
  EXPECT_EQ(out_.text, "+PONG\r\n");
}

TEST_F(RespTest, ProtocolErrorsReplyAndClose) {
  const struct {
    std::string input;
    std::string reply;
  } cases[] = {
      {"*x\r\n", "-ERR Protocol error: invalid multibulk length\r\n"},
      {"*65\r\n", "-ERR Protocol error: invalid multibulk length\r\n"},
      {"*1\r\n+PING\r\n", "-ERR Protocol error: expected '$'\r\n"},
      {"*1\r\n$-2\r\n", "-ERR Protocol error: invalid bulk length\r\n"},
      {"*1\r\n$1025\r\n", "-ERR Protocol error: invalid bulk length\r\n"},
      {"*1\r\n$4\r\nPINGxx", "-ERR Protocol error: expected CRLF after bulk data\r\n"},
      {"*" + std::string(30, '1'), "-ERR Protocol error: invalid multibulk length\r\n"},
      {std::string(kMaxInlineBytes, 'a'), "-ERR Protocol error: too big inline request\r\n"},
  };
  for (const auto& c : cases) {
    out_.text.clear();
    pending_.clear();
    const ServeResult result = Feed(c.input);
    EXPECT_TRUE(result.close) << c.input;
    EXPECT_EQ(out_.text, c.reply) << c.input;
  }
}

TEST_F(RespTest, ARequestLargerThanTheInputBufferIsAnError) {
  const std::string partial = "*2\r\n$4\r\nECHO\r\n$1000\r\n" + std::string(500, 'e');
  ServeResult result = Feed(partial);
  EXPECT_FALSE(result.close);  // more may come
  EXPECT_EQ(result.consumed, 0u);
  result = Feed("", true);  // ...but the buffer is full: it cannot
  EXPECT_TRUE(result.close);
  EXPECT_EQ(out_.text, "-ERR Protocol error: request larger than the input buffer\r\n");
}

TEST_F(RespTest, OutputRoomIsCheckedBeforeEachRequest) {
  out_.capacity = kMaxReplyBytes + 5;  // room for one PONG, not two requests
  const ServeResult result = Feed(Array({"PING"}) + Array({"PING"}));
  EXPECT_TRUE(result.blocked);
  EXPECT_EQ(out_.text, "+PONG\r\n");  // then less than kMaxReplyBytes were left
  EXPECT_EQ(pending_, Array({"PING"}));
  out_.text.clear();
  EXPECT_FALSE(Feed("").blocked);
  EXPECT_EQ(out_.text, "+PONG\r\n");
}

// ---- The table --------------------------------------------------------------------------

TEST_F(RespTest, KeyAndValueSizeLimits) {
  EXPECT_EQ(Run({"SET", std::string(kMaxKeyBytes, 'k'), "v"}), "+OK\r\n");
  EXPECT_EQ(Run({"SET", std::string(kMaxKeyBytes + 1, 'k'), "v"}), "-ERR key too long\r\n");
  EXPECT_EQ(Run({"GET", std::string(kMaxKeyBytes + 1, 'k')}), "$-1\r\n");
  EXPECT_EQ(Run({"SET", "v", std::string(kMaxValueBytes, 'v')}), "+OK\r\n");
  EXPECT_EQ(Run({"SET", "v", std::string(kMaxValueBytes + 1, 'v')}), "-ERR value too long\r\n");
  EXPECT_EQ(Run({"STRLEN", "v"}), "-ERR unknown command 'STRLEN'\r\n");
}

TEST_F(RespTest, AFullTableRefusesNewKeysOnly) {
  for (size_t i = 0; i < kMaxKeys; ++i) {
    ASSERT_EQ(Run({"SET", "key:" + std::to_string(i), std::to_string(i)}), "+OK\r\n") << i;
  }
  EXPECT_EQ(Run({"DBSIZE"}), ":1024\r\n");
  EXPECT_EQ(Run({"SET", "one-more", "x"}), "-ERR table full\r\n");
  EXPECT_EQ(Run({"INCR", "one-more"}), "-ERR table full\r\n");
  EXPECT_EQ(Run({"SET", "key:7", "changed"}), "+OK\r\n");  // existing keys still change
  EXPECT_EQ(Run({"INCR", "key:8"}), ":9\r\n");
  EXPECT_EQ(Run({"GET", "one-more"}), "$-1\r\n");
  EXPECT_EQ(Run({"DEL", "key:0"}), ":1\r\n");
  EXPECT_EQ(Run({"SET", "one-more", "x"}), "+OK\r\n");
  EXPECT_EQ(Run({"DBSIZE"}), ":1024\r\n");
}

// Backward-shift deletion keeps every other key findable, whatever collides with what.
TEST(RespStoreTest, DeletionKeepsTheRestFindable) {
  auto store = std::make_unique<Store>();
  const auto key = [](size_t i) { return "k" + std::to_string(i * 7919); };
  const auto bytes = [](const std::string& s) {
    return reinterpret_cast<const uint8_t*>(s.data());
  };
  for (size_t i = 0; i < kMaxKeys; ++i) {
    const std::string k = key(i);
    ASSERT_EQ(store->Set(bytes(k), k.size(), bytes(k), k.size()), Store::SetResult::kOk);
  }
  for (size_t i = 0; i < kMaxKeys; i += 3) {
    const std::string k = key(i);
    ASSERT_TRUE(store->Delete(bytes(k), k.size()));
  }
  for (size_t i = 0; i < kMaxKeys; ++i) {
    const std::string k = key(i);
    const Entry* entry = store->Find(bytes(k), k.size());
    if (i % 3 == 0) {
      EXPECT_EQ(entry, nullptr) << k;
    } else {
      ASSERT_NE(entry, nullptr) << k;
      EXPECT_EQ(std::string(reinterpret_cast<const char*>(entry->value), entry->value_size), k);
    }
  }
  EXPECT_EQ(store->size(), kMaxKeys - (kMaxKeys + 2) / 3);
}

TEST(RespNumbersTest, StrictInt64) {
  const auto parse = [](const std::string& s, int64_t* v) {
    return ParseInt64(reinterpret_cast<const uint8_t*>(s.data()), s.size(), v);
  };
  int64_t v = 0;
  EXPECT_TRUE(parse("0", &v) && v == 0);
  EXPECT_TRUE(parse("-42", &v) && v == -42);
  EXPECT_TRUE(parse("9223372036854775807", &v) && v == INT64_MAX);
  EXPECT_TRUE(parse("-9223372036854775808", &v) && v == INT64_MIN);
  for (const char* bad :
       {"", "-", "+1", " 1", "1 ", "01", "-0", "1.5", "9223372036854775808", "-9223372036854775809",
        "99999999999999999999", "123456789012345678901"}) {
    EXPECT_FALSE(parse(bad, &v)) << bad;
  }
  char text[21];
  EXPECT_EQ(std::string(text, FormatInt64(INT64_MIN, text)), "-9223372036854775808");
  EXPECT_EQ(std::string(text, FormatInt64(-7, text)), "-7");
  EXPECT_EQ(std::string(text, FormatInt64(0, text)), "0");
}

}  // namespace
}  // namespace testsvc::kernel::resp
