"""HTTP views of the app (thin: they validate and hand off to services)."""
from django.http import HttpResponse
from django.views.decorators.csrf import csrf_exempt


@csrf_exempt
def callback(request, account_name):
    return HttpResponse(status=501)  # replaced by the callback implementation
