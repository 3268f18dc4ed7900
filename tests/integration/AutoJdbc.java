// tests/integration/AutoJdbc.java - pgjdbc through pgpin in pool_mode = auto.
//
// N concurrent clients (threads, one Connection each, autocommit). Each sets its own session
// settings, then runs Q parameterised queries (PreparedStatement, reused) that read them back,
// every 4th inside a transaction (setAutoCommit(false) ... commit). pgjdbc's default
// prepareThreshold (5) makes the 5th execution use a named server statement (S_1, ...), which
// must follow the client from server to server. Then each runs executeBatch with a failing row
// several times, crossing prepareThreshold, and keeps using the statement afterwards. Prints one
// JSON line.
// Compiled at test time: javac -cp /usr/share/java/postgresql.jar AutoJdbc.java
// Usage: java -cp .:/usr/share/java/postgresql.jar AutoJdbc JDBCURL [CLIENTS] [QUERIES]
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;

public class AutoJdbc {
    static final String SQL = "SELECT ?::int + 1, current_setting('statement_timeout'), "
            + "current_setting('application_name'), current_setting('pgpin.client'), pg_backend_pid()";

    /* executeBatch with a failing row (a duplicate key) 8 times, crossing prepareThreshold; the
     * statement must stay usable after each failed batch, on whatever server comes next. */
    static void batches(Connection c, int i) throws Exception {
        try (PreparedStatement ins = c.prepareStatement("INSERT INTO auto_jdbc_batch VALUES (?)")) {
            for (int round = 0; round < 8; round++) {
                int base = i * 1000 + round * 10;
                for (int k = 0; k < 3; k++) {
                    ins.setInt(1, base + k);
                    ins.addBatch();
                }
                ins.setInt(1, base); /* duplicate: fails the batch */
                ins.addBatch();
                try {
                    ins.executeBatch();
                    throw new IllegalStateException("a batch with a duplicate key succeeded");
                } catch (java.sql.BatchUpdateException expected) {
                    ins.clearBatch();
                }
                ins.setInt(1, base + 5);
                if (ins.executeUpdate() != 1) throw new IllegalStateException("insert after batch");
            }
        }
        try (Statement s = c.createStatement();
                ResultSet rs = s.executeQuery("SELECT count(*) FROM auto_jdbc_batch WHERE id / 1000 = " + i)) {
            rs.next();
            /* Autocommit: each failed batch rolls back whole; the 8 single inserts stay. */
            if (rs.getInt(1) != 8) throw new IllegalStateException("rows " + rs.getInt(1) + ", want 8");
        }
    }

    public static void main(String[] args) throws Exception {
        String url = args[0];
        int clients = args.length > 1 ? Integer.parseInt(args[1]) : 40;
        int queries = args.length > 2 ? Integer.parseInt(args[2]) : 200;
        try (Connection c = DriverManager.getConnection(url, "postgres", "");
                Statement s = c.createStatement()) {
            s.execute("DROP TABLE IF EXISTS auto_jdbc_batch");
            s.execute("CREATE TABLE auto_jdbc_batch (id int PRIMARY KEY)");
        }
        List<String> errors = Collections.synchronizedList(new ArrayList<>());
        Set<Integer> pids = Collections.synchronizedSet(new HashSet<>());
        AtomicInteger ok = new AtomicInteger();
        AtomicInteger serverPrepared = new AtomicInteger();
        List<Thread> threads = new ArrayList<>();
        for (int n = 0; n < clients; n++) {
            final int i = n;
            Thread t = new Thread(() -> {
                try (Connection c = DriverManager.getConnection(url, "postgres", "")) {
                    try (Statement s = c.createStatement()) {
                        s.execute("SET statement_timeout = " + (10001 + i));
                        s.execute("SET application_name = 'jdbc-" + i + "'");
                        s.execute("SET pgpin.client = '" + i + "'");
                    }
                    String[] want = {(10001 + i) + "ms", "jdbc-" + i, String.valueOf(i)};
                    boolean used = false;
                    PreparedStatement ps = c.prepareStatement(SQL);
                    try {
                        for (int k = 0; k < queries; k++) {
                            int v = i * 100000 + k;
                            boolean tx = k % 4 == 3;
                            if (tx) c.setAutoCommit(false);
                            ps.setInt(1, v);
                            try (ResultSet rs = ps.executeQuery()) {
                                rs.next();
                                if (rs.getInt(1) != v + 1 || !want[0].equals(rs.getString(2))
                                        || !want[1].equals(rs.getString(3)) || !want[2].equals(rs.getString(4)))
                                    throw new IllegalStateException("client " + i + " query " + k + ": got "
                                            + rs.getInt(1) + " " + rs.getString(2) + " " + rs.getString(3) + " "
                                            + rs.getString(4));
                                pids.add(rs.getInt(5));
                            }
                            if (tx) {
                                c.commit();
                                c.setAutoCommit(true);
                            }
                            ok.incrementAndGet();
                        }
                        // Still open: its server statement (S_n) must be on the server in use now.
                        try (Statement s = c.createStatement();
                                ResultSet rs = s.executeQuery("SELECT count(*) FROM pg_prepared_statements "
                                        + "WHERE NOT from_sql AND statement LIKE '%current_setting(''pgpin.client'')%'")) {
                            rs.next();
                            used = rs.getInt(1) >= 1;
                        }
                    } finally {
                        ps.close();
                    }
                    if (used) serverPrepared.incrementAndGet();
                    batches(c, i);
                } catch (Exception e) {
                    errors.add("client " + i + ": " + e);
                }
            });
            threads.add(t);
            t.start();
        }
        for (Thread t : threads) t.join();
        StringBuilder sb = new StringBuilder();
        for (int k = 0; k < Math.min(5, errors.size()); k++) {
            if (k > 0) sb.append(',');
            sb.append('"').append(errors.get(k).replace("\\", "\\\\").replace("\"", "'")).append('"');
        }
        System.out.println("{\"driver\":\"pgjdbc " + org.postgresql.util.DriverInfo.DRIVER_VERSION
                + "\",\"clients\":" + clients + ",\"queries\":" + clients * queries + ",\"ok\":" + ok.get()
                + ",\"errors\":[" + sb + "],\"nerrors\":" + errors.size() + ",\"pids\":" + pids.size()
                + ",\"prepared\":" + serverPrepared.get() + "}");
        System.exit(errors.isEmpty() && ok.get() == clients * queries && serverPrepared.get() == clients ? 0 : 1);
    }
}
