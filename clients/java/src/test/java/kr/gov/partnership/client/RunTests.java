package kr.gov.partnership.client;

import org.junit.runner.Description;
import org.junit.runner.JUnitCore;
import org.junit.runner.Result;
import org.junit.runner.notification.Failure;
import org.junit.runner.notification.RunListener;

/**
 * Runs the JUnit suite, prints one line per test and a closing "N passed, N failed" line, and
 * exits non-zero unless every test ran and passed.
 */
public final class RunTests {
  private RunTests() {}

  public static void main(String[] args) {
    JUnitCore junit = new JUnitCore();
    junit.addListener(
        new RunListener() {
          private boolean failed;

          @Override
          public void testStarted(Description d) {
            failed = false;
          }

          @Override
          public void testFailure(Failure f) {
            failed = true;
            System.out.println("FAIL " + f.getDescription().getMethodName());
            System.out.println(f.getTrace());
          }

          @Override
          public void testFinished(Description d) {
            if (!failed) {
              System.out.println("ok   " + d.getMethodName());
            }
          }
        });
    Result result = junit.run(ClientTest.class);
    int failed = result.getFailureCount();
    int passed = Math.max(0, result.getRunCount() - failed);
    System.out.println();
    System.out.println("java: " + passed + " passed, " + failed + " failed");
    System.exit(failed == 0 && result.getRunCount() > 0 ? 0 : 1);
  }
}
