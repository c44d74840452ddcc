package kr.gov.partnership.client;

import com.google.protobuf.Any;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.Message;
import com.google.rpc.BadRequest;
import com.google.rpc.DebugInfo;
import com.google.rpc.ErrorInfo;
import com.google.rpc.Help;
import com.google.rpc.LocalizedMessage;
import com.google.rpc.PreconditionFailure;
import com.google.rpc.QuotaFailure;
import com.google.rpc.RequestInfo;
import com.google.rpc.ResourceInfo;
import com.google.rpc.RetryInfo;
import io.grpc.Status;
import io.grpc.protobuf.StatusProto;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * The {@code google.rpc.Status} of a failed call, decoded from its {@code
 * grpc-status-details-bin} trailer: the code, the message and the error details ({@code
 * ErrorInfo}, {@code BadRequest}, {@code PreconditionFailure}, {@code ResourceInfo}, {@code
 * RetryInfo}, ...).
 */
public final class ErrorDetails {
  private static final List<Class<? extends Message>> KNOWN =
      Collections.unmodifiableList(
          java.util.Arrays.<Class<? extends Message>>asList(
              ErrorInfo.class,
              BadRequest.class,
              PreconditionFailure.class,
              ResourceInfo.class,
              RetryInfo.class,
              QuotaFailure.class,
              RequestInfo.class,
              DebugInfo.class,
              Help.class,
              LocalizedMessage.class));

  private final Status.Code code;
  private final String message;
  private final List<Message> details;

  private ErrorDetails(Status.Code code, String message, List<Message> details) {
    this.code = code;
    this.message = message;
    this.details = Collections.unmodifiableList(details);
  }

  /** Decodes the status of a failed call (a {@code StatusRuntimeException} or its cause). */
  public static ErrorDetails of(Throwable error) {
    Status status = Status.fromThrowable(error);
    com.google.rpc.Status rich = StatusProto.fromThrowable(error);
    List<Message> details = new ArrayList<Message>();
    if (rich != null) {
      for (Any any : rich.getDetailsList()) {
        for (Class<? extends Message> type : KNOWN) {
          if (any.is(type)) {
            try {
              details.add(any.unpack(type));
            } catch (InvalidProtocolBufferException e) {
              throw new IllegalStateException("undecodable " + any.getTypeUrl(), e);
            }
          }
        }
      }
    }
    return new ErrorDetails(status.getCode(), status.getDescription(), details);
  }

  public Status.Code code() {
    return code;
  }

  public String message() {
    return message;
  }

  /** Every detail of a known type, in the order the server sent them. */
  public List<Message> details() {
    return details;
  }

  /** The first detail of {@code type}, or null. */
  public <T extends Message> T find(Class<T> type) {
    for (Message m : details) {
      if (type.isInstance(m)) {
        return type.cast(m);
      }
    }
    return null;
  }

  /** The ErrorInfo ({@code domain} "partnership.gov.kr", a {@code reason}), or null. */
  public ErrorInfo errorInfo() {
    return find(ErrorInfo.class);
  }

  /** The BadRequest naming every invalid field, or null. */
  public BadRequest badRequest() {
    return find(BadRequest.class);
  }

  /** The request fields at fault, from the BadRequest's field violations (empty if none). */
  public List<String> badFields() {
    List<String> fields = new ArrayList<String>();
    BadRequest bad = badRequest();
    if (bad != null) {
      for (BadRequest.FieldViolation v : bad.getFieldViolationsList()) {
        fields.add(v.getField());
      }
    }
    return fields;
  }

  @Override
  public String toString() {
    StringBuilder s = new StringBuilder(code.name()).append(": ").append(message);
    ErrorInfo info = errorInfo();
    if (info != null) {
      s.append("\n  reason ").append(info.getReason()).append(" (").append(info.getDomain());
      s.append(") ").append(info.getMetadataMap());
    }
    BadRequest bad = badRequest();
    if (bad != null) {
      for (BadRequest.FieldViolation v : bad.getFieldViolationsList()) {
        s.append("\n  ").append(v.getField()).append(": ").append(v.getDescription());
      }
    }
    return s.toString();
  }
}
